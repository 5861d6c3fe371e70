package tss

import (
	"errors"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/tss/frost"
	"github.com/keyquorum/keyquorum/tss/scheme"
)

// FrostGroup is what a FROST signer and coordinator need from an Ed25519
// share: the member's FROST key share (secret), the group info built from
// the share's public data, and each member's identifier by node ID.
type FrostGroup struct {
	Key   *frost.KeyShare // secret: Wipe it when the share is retired
	Group *frost.GroupInfo
	IDs   map[string]frost.Identifier // node ID -> FROST identifier
}

// Member returns the node whose identifier is id, or false.
func (g *FrostGroup) Member(id frost.Identifier) (string, bool) {
	for node, x := range g.IDs {
		if x == id {
			return node, true
		}
	}
	return "", false
}

// ErrNotEdDSA is returned by Frost for a share that is not Ed25519.
var ErrNotEdDSA = errors.New("tss: FROST needs an Ed25519 share")

// Frost maps an Ed25519 share to FROST(Ed25519, SHA-512). tss-lib's EdDSA
// keygen and resharing leave Xi, a Shamir share of the signing scalar at
// x = ShareID (this member's party key), and BigXj = Xi_j·B for every
// party key Ks[j]: exactly a FROST key share with identifier ShareID and
// the verifying shares of the group (tss/frost_compat_test.go proves it
// with keygen and reshare outputs). The group info is checked to
// interpolate to the group key, so a share paired with the wrong public
// data fails here, not as an unattributable bad signature.
func (s *Share) Frost() (*FrostGroup, error) {
	if s == nil || s.wiped {
		return nil, errors.New("tss: share wiped")
	}
	if s.alg != Ed25519 || s.eddsa == nil {
		return nil, ErrNotEdDSA
	}
	d := s.eddsa
	if d.Xi == nil || d.ShareID == nil || len(d.Ks) != len(d.BigXj) {
		return nil, fmt.Errorf("tss: %w: incomplete EdDSA data", ErrNotEdDSA)
	}
	self, err := frost.IdentifierFromBigInt(d.ShareID)
	if err != nil {
		return nil, fmt.Errorf("tss: FROST identifier: %w", err)
	}
	// tss-lib's Xi is big-endian; FROST's SerializeScalar is little-endian.
	if d.Xi.Sign() < 0 || d.Xi.BitLen() > 256 {
		return nil, fmt.Errorf("tss: %w: Xi out of range", ErrNotEdDSA)
	}
	secret := d.Xi.FillBytes(make([]byte, 32))
	defer clear(secret)
	slices.Reverse(secret)
	ks, err := frost.NewKeyShare(self, secret, s.pub)
	if err != nil {
		return nil, fmt.Errorf("tss: FROST key share: %w", err)
	}
	verifying := make(map[frost.Identifier][]byte, len(d.Ks))
	for j, k := range d.Ks {
		id, err := frost.IdentifierFromBigInt(k)
		if err != nil {
			ks.Wipe()
			return nil, fmt.Errorf("tss: FROST identifier of party %d: %w", j, err)
		}
		p := d.BigXj[j]
		if p == nil {
			ks.Wipe()
			return nil, fmt.Errorf("tss: %w: no verifying share for party %d", ErrNotEdDSA, j)
		}
		if verifying[id], err = scheme.EncodePoint(Ed25519, p.X(), p.Y()); err != nil {
			ks.Wipe()
			return nil, fmt.Errorf("tss: verifying share of party %d: %w", j, err)
		}
	}
	group, err := frost.NewGroupInfo(s.threshold+1, s.pub, verifying)
	if err != nil {
		ks.Wipe()
		return nil, fmt.Errorf("tss: FROST group: %w", err)
	}
	if v, ok := group.VerifyingShare(self); !ok || !slices.Equal(v, ks.VerifyingShare()) {
		ks.Wipe()
		return nil, fmt.Errorf("tss: %w: Xi·B is not this party's verifying share", ErrNotEdDSA)
	}
	ids := make(map[string]frost.Identifier, len(s.parties))
	for _, node := range s.parties {
		k := s.keyOf(node)
		if k == nil {
			ks.Wipe()
			return nil, fmt.Errorf("tss: %w: no party key for %s", ErrNotEdDSA, node)
		}
		id, err := frost.IdentifierFromBigInt(k)
		if err != nil {
			ks.Wipe()
			return nil, fmt.Errorf("tss: FROST identifier of %s: %w", node, err)
		}
		if _, ok := group.VerifyingShare(id); !ok {
			ks.Wipe()
			return nil, fmt.Errorf("tss: %w: %s's party key is not in Ks", ErrNotEdDSA, node)
		}
		ids[node] = id
	}
	if ids[s.self] != self {
		ks.Wipe()
		return nil, fmt.Errorf("tss: %w: ShareID is not %s's party key", ErrNotEdDSA, s.self)
	}
	return &FrostGroup{Key: ks, Group: group, IDs: ids}, nil
}
