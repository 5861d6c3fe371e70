package keys

import (
	"fmt"
	"iter"
	"slices"
	"strings"
)

// Table is the key table, by name.
type Table map[string]*Key

// Check refuses a restored table that applying a later entry would panic
// on: a null key or former holder, or a key whose versions are missing or
// out of order.
func (t Table) Check() error {
	for name, k := range t {
		if k == nil || len(k.Versions) == 0 {
			return fmt.Errorf("key %q has no versions", name)
		}
		for i, v := range k.Versions {
			if v == nil || v.Number != uint32(i+1) {
				return fmt.Errorf("key %q: version %d is missing", name, i+1)
			}
		}
		for _, fh := range k.Former {
			if fh == nil {
				return fmt.Errorf("key %q: a former holder is null", name)
			}
		}
	}
	return nil
}

// HasVersion reports whether key has version n: what another table's
// record names must exist.
func (t Table) HasVersion(key string, n uint32) bool {
	k := t[key]
	return k != nil && k.Version(n) != nil
}

// Clones returns copies of every key, by name.
func (t Table) Clones() []*Key {
	out := make([]*Key, 0, len(t))
	for _, k := range t {
		out = append(out, k.Clone())
	}
	slices.SortFunc(out, func(a, b *Key) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Where returns the keys whose name match picks, by name.
func (t Table) Where(match func(name string) bool) []*Key {
	var out []*Key
	for name, k := range t {
		if match(name) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b *Key) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// FormerUnshredded returns the names of the keys of which node is a
// former holder that has not reported shredding its shares, sorted.
func (t Table) FormerUnshredded(node string) []string {
	var out []string
	for name, k := range t {
		if k.Unshredded(node) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// Thresholds yields each key's name and threshold, in any order.
func (t Table) Thresholds() iter.Seq2[string, int] {
	return func(yield func(string, int) bool) {
		for _, k := range t {
			if !yield(k.Name, k.Threshold) {
				return
			}
		}
	}
}

// Holding returns, sorted, the keys whose shares matter (Key.HasShares)
// whose holders include node, or, with holds false, lack it.
func (t Table) Holding(node string, holds bool) []string {
	var out []string
	for name, k := range t {
		if k.HasShares() && k.HasMember(node) == holds {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
