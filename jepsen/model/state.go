package model

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// State is the model's view of the cluster: keys, signing requests and
// lifecycle requests. Step functions never mutate a State; they return a
// changed copy.
type State struct {
	Keys     map[string]Key     // by name
	Requests map[string]Request // signing requests by request id
	Changes  map[string]Change  // lifecycle requests that took effect, by request id
}

// Key is what the model knows of one key.
type Key struct {
	CreateID string // request id of the create that made it
	// Primary is the version Sign uses; 0 until the first is active.
	Primary uint32
	// Versions holds version n at index n-1, each as far as operations
	// have shown it.
	Versions []Version
}

// Version is what the model knows of one key version. Generating means no
// operation has shown its key generation end yet: it may already have.
type Version struct {
	State     KeyState
	PublicKey string // hex; empty until an operation has shown it
}

// Request is one signing request id.
type Request struct {
	Key       string
	Digest    string
	Signature string // hex; empty until an operation has returned it
	Version   uint32 // the version that made Signature
	// Candidates has bit n set when an attempt of unknown outcome was
	// placed where version n would have signed it: a signature learned
	// later may come from that attempt, ordered there.
	Candidates uint64
}

// candidate reports whether version n may have signed r in an earlier
// attempt.
func (r Request) candidate(n uint32) bool { return r.Candidates&versionBit(n) != 0 }

// versionBit is n's bit in Request.Candidates; versions past 64 have none
// (no run rotates a key that often).
func versionBit(n uint32) uint64 {
	if n == 0 || n > 64 {
		return 0
	}
	return 1 << (n - 1)
}

// Change is a lifecycle request that took effect: a retry with the same
// input changes nothing more, one with other input is refused.
type Change struct {
	Kind      Kind
	Key       string
	Requested uint32 // the version the request named (0: the default)
	Version   uint32 // the version it changed (a rotation's new version)
}

func initState() State {
	return State{Keys: map[string]Key{}, Requests: map[string]Request{}, Changes: map[string]Change{}}
}

func (s State) withKey(name string, k Key) State {
	keys := maps.Clone(s.Keys)
	keys[name] = k
	s.Keys = keys
	return s
}

func (s State) withRequest(id string, r Request) State {
	reqs := maps.Clone(s.Requests)
	reqs[id] = r
	s.Requests = reqs
	return s
}

func (s State) withChange(id string, c Change) State {
	changes := maps.Clone(s.Changes)
	changes[id] = c
	s.Changes = changes
	return s
}

func (s State) equal(o State) bool {
	return maps.EqualFunc(s.Keys, o.Keys, Key.equal) && maps.Equal(s.Requests, o.Requests) && maps.Equal(s.Changes, o.Changes)
}

func (k Key) equal(o Key) bool {
	return k.CreateID == o.CreateID && k.Primary == o.Primary && slices.Equal(k.Versions, o.Versions)
}

// String renders the state for visualisations.
func (s State) String() string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(s.Keys)) {
		k := s.Keys[name]
		fmt.Fprintf(&b, "%s: primary v%d", name, k.Primary)
		for i, v := range k.Versions {
			fmt.Fprintf(&b, " v%d:%s %s", i+1, v.State, short(v.PublicKey))
		}
		b.WriteString("\n")
	}
	for _, id := range slices.Sorted(maps.Keys(s.Requests)) {
		r := s.Requests[id]
		fmt.Fprintf(&b, "  %s → v%d %s\n", short(id), r.Version, short(r.Signature))
	}
	for _, id := range slices.Sorted(maps.Keys(s.Changes)) {
		c := s.Changes[id]
		fmt.Fprintf(&b, "  %s: %s v%d\n", short(id), c.Kind, c.Version)
	}
	return b.String()
}

func newKey(createID string) Key {
	return Key{CreateID: createID, Versions: []Version{{State: Generating}}}
}

// version returns version n.
func (k Key) version(n uint32) (Version, bool) {
	if n == 0 || int(n) > len(k.Versions) {
		return Version{}, false
	}
	return k.Versions[n-1], true
}

// with returns k with version n replaced.
func (k Key) with(n uint32, v Version) Key {
	k.Versions = slices.Clone(k.Versions)
	k.Versions[n-1] = v
	return k
}

// appended returns k with a new version, generating.
func (k Key) appended() Key {
	k.Versions = append(slices.Clone(k.Versions), Version{State: Generating})
	return k
}

// generated returns k with version n's key generation ended well, if the
// model still had it generating: the first version becomes active and
// primary, a rotation's version staged.
func (k Key) generated(n uint32) Key {
	v, ok := k.version(n)
	if !ok || v.State != Generating {
		return k
	}
	v.State = Staged
	if n == 1 {
		v.State = Active
		if k.Primary == 0 {
			k.Primary = 1
		}
	}
	return k.with(n, v)
}

// newest returns the newest version for which match holds, or 0.
func (k Key) newest(below uint32, match func(n uint32, v Version) bool) uint32 {
	for n := min(below, uint32(len(k.Versions))); n >= 1; n-- {
		if match(n, k.Versions[n-1]) {
			return n
		}
	}
	return 0
}

// observe applies a read of key k that returned view. It reports false
// when the view contradicts what earlier operations established: another
// set of versions, a version state no operation and no key generation
// explains (a stale read, a lost change), another public key, another
// primary, or a current state that is not the current version's.
func observe(k Key, view KeyView) (Key, bool) {
	vs := view.VersionList()
	if len(vs) != len(k.Versions) {
		return k, false
	}
	for i, vv := range vs {
		n := uint32(i + 1)
		if vv.Number != n {
			return k, false
		}
		cur := k.Versions[i]
		switch {
		case vv.State == cur.State:
		case cur.State == Generating && vv.State == Failed:
			k = k.with(n, Version{State: Failed, PublicKey: cur.PublicKey})
		case cur.State == Generating:
			// Only key generation moves a version on without a request.
			if k = k.generated(n); k.Versions[i].State != vv.State {
				return k, false
			}
		default:
			return k, false
		}
		if vv.PublicKey != "" {
			v := k.Versions[i]
			if v.PublicKey != "" && v.PublicKey != vv.PublicKey {
				return k, false
			}
			v.PublicKey = vv.PublicKey
			k = k.with(n, v)
		}
	}
	if view.PrimaryVersion() != k.Primary {
		return k, false
	}
	return k, currentMatches(view)
}

// currentMatches checks a full view's own consistency: the key's state and
// public key are its current version's (the primary, else version 1).
func currentMatches(view KeyView) bool {
	if len(view.Versions) == 0 {
		return true
	}
	cur := max(view.Primary, 1)
	if int(cur) > len(view.Versions) {
		return false
	}
	v := view.Versions[cur-1]
	return view.State == v.State && view.PublicKey == v.PublicKey
}
