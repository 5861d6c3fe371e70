// Package keys is the replicated record of keyquorum's keys: a Key and
// its Versions, the states a version moves through, and the rules of
// every change an entry may make to them — generation and its reports,
// rotate, promote, rollback, retire, revoke, the key's floors, the
// scheduled destruction of a version, and the refresh or reshare of a
// version's shares. A refused change leaves the key as it was. The
// package holds public facts only: each member keeps its shares sealed on
// its own disk.
//
// It is pure, as package fsm is, and knows nothing of the other tables:
// what a change means for them (presignatures of a retired version,
// pending signs of a revoked one) package fsm decides after the change.
package keys

import (
	"errors"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
)

// Errors of the key table. They are part of an entry's replicated outcome.
var (
	// ErrKeyExists is returned when a key name is taken by another request.
	ErrKeyExists = errors.New("key already exists")
	// ErrKeyNotActive is returned when a key is still generating or failed.
	ErrKeyNotActive = errors.New("key is not active")
	// ErrUnknownVersion is returned when a key has no such version.
	ErrUnknownVersion = errors.New("unknown key version")
	// ErrVersionUnusable is returned when a version's state or a floor
	// forbids the operation.
	ErrVersionUnusable = errors.New("key version unusable")
	// ErrPreParamsNotReady is returned when an ECDSA key is requested before
	// every member holds pre-parameters.
	ErrPreParamsNotReady = errors.New("pre-parameters not ready")
	// ErrBadSignature is returned when a reported signature does not
	// verify, or a refreshed share does not keep the version's public key.
	ErrBadSignature = errors.New("signature does not verify")
)

// State is the lifecycle state of a key version.
type State string

// Key version states. A version moves generating -> staged (a rotation) or
// active (the first version) -> retired -> revoked -> destroyed, skipping
// states as operators choose; failed ends a generation that did not finish.
// Only active and staged versions sign; retired and destroyed versions
// still verify (a shredded share does not make old signatures false);
// revoked versions do neither.
const (
	Generating State = "generating"
	Staged     State = "staged"
	Active     State = "active"
	Retired    State = "retired"
	Revoked    State = "revoked"
	Destroyed  State = "destroyed"
	Failed     State = "failed"
)

// CanSign reports whether a version in this state may sign.
func (s State) CanSign() bool { return s == Active || s == Staged }

// CanVerify reports whether signatures by a version in this state verify.
func (s State) CanVerify() bool { return s.CanSign() || s == Retired || s == Destroyed }

// Key is the replicated record of one key and all its versions. It holds
// public facts only; each member keeps its shares sealed on its own disk.
type Key struct {
	Name      string   `json:"name"`
	Algorithm string   `json:"algorithm"`
	Threshold int      `json:"threshold"`
	Members   []string `json:"members"`
	// Purposes are the labels handles of this key may carry.
	Purposes []string `json:"purposes"`
	// Versions are every version ever created, oldest first; a destroyed
	// version stays as a tombstone so its number is never reused.
	Versions []*Version `json:"versions"`
	// Primary is the version Sign uses; 0 until the first version is active.
	Primary uint32 `json:"primary"`
	// MinSignVersion and MinVerifyVersion are floors: no version below
	// them signs or verifies, whatever its state.
	MinSignVersion   uint32 `json:"min_sign_version"`
	MinVerifyVersion uint32 `json:"min_verify_version"`
	// DeletionAllowed must be set before any version can be destroyed.
	DeletionAllowed bool `json:"deletion_allowed"`
	// DualSign, while the replicated time is before Until, makes Sign
	// return a second signature by Version alongside the primary's.
	DualSign        *DualSign `json:"dual_sign,omitempty"`
	CreatedIndex    uint64    `json:"created_index"`
	CreatedTime     int64     `json:"created_time"`
	CreateRequestID string    `json:"create_request_id"`
	// Former are the nodes that held shares of the key before a reshare
	// moved its holders, until each reports it shredded every share file
	// (SharesShredded); a reshare alone already made those shares useless.
	Former []*FormerHolder `json:"former,omitempty"`
}

// FormerHolder is a node a reshare left out of a key's holders.
type FormerHolder struct {
	Node string `json:"node"`
	// Index is the entry whose switch to the new shares left it out.
	Index uint64 `json:"index"`
	// Shredded is set once the node reported that its share files of the
	// key are gone.
	Shredded bool `json:"shredded,omitempty"`
}

// DualSign is an open dual-sign window.
type DualSign struct {
	Version uint32 `json:"version"`
	Until   int64  `json:"until"`
}

// Version is one generation of a key: its own DKG, public key and shares.
type Version struct {
	Number    uint32 `json:"number"`
	State     State  `json:"state"`
	PublicKey []byte `json:"public_key,omitempty"`
	// Epoch counts share refreshes: the shares on disk are of this epoch.
	Epoch     uint32   `json:"epoch"`
	Confirmed []string `json:"confirmed,omitempty"` // members that stored a share, sorted
	Failure   string   `json:"failure,omitempty"`
	// CreatedIndex and RequestID are the entry that started the version's
	// key generation; they derive its session id.
	CreatedIndex uint64 `json:"created_index"`
	RequestID    string `json:"request_id"`
	// Created is the replicated time the generation started; the leader
	// fails a generation that outlives its deadline from here, so a
	// change of leader does not restart the clock.
	Created int64 `json:"created"`
	// Refresh is a share refresh in progress.
	Refresh *Refresh `json:"refresh,omitempty"`
	// Destroy is set once destruction was requested.
	Destroy *Destroy `json:"destroy,omitempty"`
}

// Refresh is a resharing of a version to new shares of the same key.
type Refresh struct {
	Epoch     uint32   `json:"epoch"`   // the new shares' epoch
	Index     uint64   `json:"index"`   // entry that started it, for the session id
	Started   int64    `json:"started"` // replicated time it started
	RequestID string   `json:"request_id"`
	Committee []string `json:"committee"` // old holders that deal
	Confirmed []string `json:"confirmed,omitempty"`
	// Members and Threshold are the new holders and threshold when a
	// reshare changes them (ReshareKey); empty and 0 keep the key's.
	Members   []string `json:"members,omitempty"`
	Threshold int      `json:"threshold,omitempty"`
}

// Parties returns the holders of the refresh's new shares.
func (r *Refresh) Parties(k *Key) []string {
	if len(r.Members) > 0 {
		return r.Members
	}
	return k.Members
}

// NewThreshold returns the threshold of the refresh's new shares.
func (r *Refresh) NewThreshold(k *Key) int {
	if r.Threshold > 0 {
		return r.Threshold
	}
	return k.Threshold
}

// Destroy tracks a version's destruction: pending until At (a cancel
// removes it), then executed, then confirmed by each member as it shreds
// its share.
type Destroy struct {
	At       int64    `json:"at"` // replicated time when it may execute
	Executed bool     `json:"executed"`
	Shredded []string `json:"shredded,omitempty"` // members that deleted their share, sorted
}

// Clone returns a deep copy: what the state machine hands out, so no
// caller can change the replicated record.
func (k *Key) Clone() *Key {
	c := *k
	c.Members = slices.Clone(k.Members)
	c.Purposes = slices.Clone(k.Purposes)
	c.Versions = make([]*Version, len(k.Versions))
	for i, v := range k.Versions {
		c.Versions[i] = v.clone()
	}
	if k.DualSign != nil {
		d := *k.DualSign
		c.DualSign = &d
	}
	if k.Former != nil {
		c.Former = make([]*FormerHolder, len(k.Former))
		for i, f := range k.Former {
			ff := *f
			c.Former[i] = &ff
		}
	}
	return &c
}

func (v *Version) clone() *Version {
	c := *v
	c.PublicKey = slices.Clone(v.PublicKey)
	c.Confirmed = slices.Clone(v.Confirmed)
	if v.Refresh != nil {
		r := *v.Refresh
		r.Committee, r.Confirmed, r.Members = slices.Clone(r.Committee), slices.Clone(r.Confirmed), slices.Clone(r.Members)
		c.Refresh = &r
	}
	if v.Destroy != nil {
		d := *v.Destroy
		d.Shredded = slices.Clone(d.Shredded)
		c.Destroy = &d
	}
	return &c
}

// HasMember reports whether node holds a share of the key.
func (k *Key) HasMember(node string) bool { return slices.Contains(k.Members, node) }

// Live reports whether a version of the key is neither destroyed nor
// failed: the key still holds material its tenant owns.
func (k *Key) Live() bool {
	return slices.ContainsFunc(k.Versions, func(v *Version) bool { return v.State != Destroyed && v.State != Failed })
}

// HasShares reports whether a version's shares matter: one that signs, or
// is being generated.
func (k *Key) HasShares() bool {
	return slices.ContainsFunc(k.Versions, func(v *Version) bool { return v.State.CanSign() || v.State == Generating })
}

// Version returns version n, or nil.
func (k *Key) Version(n uint32) *Version {
	if n == 0 || int(n) > len(k.Versions) {
		return nil
	}
	return k.Versions[n-1]
}

// Latest returns the newest version.
func (k *Key) Latest() *Version { return k.Versions[len(k.Versions)-1] }

// Current returns the primary version, or the first version while it is
// still generating or failed.
func (k *Key) Current() *Version {
	if v := k.Version(k.Primary); v != nil {
		return v
	}
	return k.Versions[0]
}

// State summarises the key as its current version's state.
func (k *Key) State() State { return k.Current().State }

// PublicKey returns the current version's public key.
func (k *Key) PublicKey() []byte { return k.Current().PublicKey }

// SignVersion reports why version n may not sign now, or nil.
func (k *Key) SignVersion(n uint32) error {
	v := k.Version(n)
	switch {
	case v == nil:
		return fmt.Errorf("%w: %q has no version %d", ErrUnknownVersion, k.Name, n)
	case v.State == Revoked:
		return fmt.Errorf("%w: %q v%d is revoked", ErrVersionUnusable, k.Name, n)
	case !v.State.CanSign():
		return fmt.Errorf("%w: %q v%d is %s", ErrVersionUnusable, k.Name, n, v.State)
	case n < k.MinSignVersion:
		return fmt.Errorf("%w: %q v%d is below min_sign_version %d", ErrVersionUnusable, k.Name, n, k.MinSignVersion)
	}
	return nil
}

// VerifyVersion reports why signatures by version n do not verify, or nil.
func (k *Key) VerifyVersion(n uint32) error {
	v := k.Version(n)
	switch {
	case v == nil:
		return fmt.Errorf("%w: %q has no version %d", ErrUnknownVersion, k.Name, n)
	case !v.State.CanVerify():
		return fmt.Errorf("%w: %q v%d is %s", ErrVersionUnusable, k.Name, n, v.State)
	case n < k.MinVerifyVersion:
		return fmt.Errorf("%w: %q v%d is below min_verify_version %d", ErrVersionUnusable, k.Name, n, k.MinVerifyVersion)
	}
	return nil
}

// DualVersion returns the version that co-signs a request for version
// requested (0: the primary) at the replicated time now while a dual-sign
// window is open, or 0.
func (k *Key) DualVersion(requested uint32, now int64) uint32 {
	d := k.DualSign
	if d == nil || (requested != 0 && requested != k.Primary) || now >= d.Until || k.SignVersion(d.Version) != nil {
		return 0
	}
	return d.Version
}

// CheckCommittee reports whether committee may sign with k as the FSM
// judges a sign entry: threshold+1 distinct members of the key. The leader
// asks it of a refused request, to tell a committee that a membership
// change or reshare made stale from a request that was bad.
func (k *Key) CheckCommittee(committee []string) error {
	if len(committee) != k.Threshold+1 || HasDuplicates(committee) {
		return fmt.Errorf("%w: committee must be %d distinct members", fsmerr.ErrInvalidCommand, k.Threshold+1)
	}
	for _, m := range committee {
		if !k.HasMember(m) {
			return fmt.Errorf("%w: %s is not a member of %q", fsmerr.ErrInvalidCommand, m, k.Name)
		}
	}
	return nil
}

// pick returns version n, or def when n is 0.
func (k *Key) pick(n, def uint32) (*Version, error) {
	if n == 0 {
		n = def
	}
	v := k.Version(n)
	if v == nil {
		return nil, fmt.Errorf("%w: %q has no version %d", ErrUnknownVersion, k.Name, n)
	}
	return v, nil
}

// HasDuplicates reports whether xs names an element twice.
func HasDuplicates(xs []string) bool {
	s := slices.Sorted(slices.Values(xs))
	return len(slices.Compact(s)) != len(xs)
}
