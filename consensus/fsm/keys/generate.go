package keys

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
)

// DefaultPurpose is the purpose of a key created without any.
const DefaultPurpose = "sign"

// MaxPurposes bounds the purposes of one key.
const MaxPurposes = 16

// At is where in the log a change applies: the entry's index, which
// derives session ids, and the replicated time.
type At struct {
	Index uint64
	Time  int64
}

// Spec is what a key's creation chooses.
type Spec struct {
	Name, RequestID, Algorithm string
	Threshold                  int
	Members, Purposes          []string
	DeletionAllowed            bool
}

// Check reports why no key can be made from s, or nil; known reports
// whether the cluster can generate keys of an algorithm.
func (s *Spec) Check(known func(algorithm string) bool) error {
	switch {
	case s.Name == "" || s.RequestID == "":
		return fmt.Errorf("%w: name and request id are required", fsmerr.ErrInvalidCommand)
	case !known(s.Algorithm):
		return fmt.Errorf("%w: unknown algorithm %q", fsmerr.ErrInvalidCommand, s.Algorithm)
	case s.Threshold < 1 || s.Threshold >= len(s.Members):
		return fmt.Errorf("%w: threshold %d needs 1 <= t < %d members", fsmerr.ErrInvalidCommand, s.Threshold, len(s.Members))
	case HasDuplicates(s.Members):
		return fmt.Errorf("%w: duplicate member", fsmerr.ErrInvalidCommand)
	case len(s.Purposes) > MaxPurposes || HasDuplicates(s.Purposes) || slices.Contains(s.Purposes, ""):
		return fmt.Errorf("%w: up to %d distinct, non-empty purposes", fsmerr.ErrInvalidCommand, MaxPurposes)
	}
	return nil
}

// New returns the key s makes, its first version generating from at.
func New(s *Spec, at At) *Key {
	purposes := slices.Sorted(slices.Values(s.Purposes))
	if len(purposes) == 0 {
		purposes = []string{DefaultPurpose}
	}
	return &Key{
		Name:            s.Name,
		Algorithm:       s.Algorithm,
		Threshold:       s.Threshold,
		Members:         slices.Sorted(slices.Values(s.Members)),
		Purposes:        purposes,
		Versions:        []*Version{{Number: 1, State: Generating, CreatedIndex: at.Index, RequestID: s.RequestID, Created: at.Time}},
		DeletionAllowed: s.DeletionAllowed,
		CreatedIndex:    at.Index,
		CreatedTime:     at.Time,
		CreateRequestID: s.RequestID,
	}
}

// MadeBy reports whether k is what s made: a retry of its creation.
func (k *Key) MadeBy(s *Spec) bool {
	return k.CreateRequestID == s.RequestID && k.Algorithm == s.Algorithm && k.Threshold == s.Threshold &&
		k.DeletionAllowed == s.DeletionAllowed
}

// CheckPreParams refuses ECDSA key generation until every member holds
// pre-parameters (ready, by member): starting without them would only
// stall.
func CheckPreParams(ready map[string]bool, algorithm string, members []string) error {
	if algorithm != "ecdsa-secp256k1" {
		return nil
	}
	for _, m := range members {
		if !ready[m] {
			return fmt.Errorf("%w on %s", ErrPreParamsNotReady, m)
		}
	}
	return nil
}

// Generating returns version n while its generation runs; a report about
// any other is stale.
func (k *Key) Generating(n uint32) (*Version, error) {
	v := k.Version(n)
	if v == nil || v.State != Generating {
		return nil, fmt.Errorf("%q v%d: %w", k.Name, n, fsmerr.ErrStale)
	}
	return v, nil
}

// StoreShare records that node sealed its share of the generating
// version v and derived pub from it; dup is true when it already had. A
// public key that differs from another member's fails the generation.
// Once every member stored its share the version is staged, or, the
// key's first, active and primary.
func (k *Key) StoreShare(v *Version, node string, pub []byte) (dup bool, err error) {
	if !k.HasMember(node) || len(pub) == 0 {
		return false, fmt.Errorf("share for %q from %s: %w", k.Name, node, fsmerr.ErrInvalidCommand)
	}
	if slices.Contains(v.Confirmed, node) {
		return true, nil
	}
	if v.PublicKey != nil && !bytes.Equal(v.PublicKey, pub) {
		v.State = Failed
		v.Failure = fmt.Sprintf("members disagree on the public key (%s differs)", node)
		return false, nil
	}
	v.PublicKey = slices.Clone(pub)
	v.Confirmed = append(v.Confirmed, node)
	slices.Sort(v.Confirmed)
	if len(v.Confirmed) == len(k.Members) {
		// The first version becomes primary at once; a rotation's version
		// waits, staged, for an operator to promote it.
		v.State = Staged
		if k.Primary == 0 && v.Number == 1 {
			v.State, k.Primary = Active, 1
		}
	}
	return false, nil
}

// Fail ends the version's generation: node reported it cannot finish.
func (v *Version) Fail(node, reason string) {
	v.State = Failed
	v.Failure = fmt.Sprintf("%s: %s", node, reason)
}
