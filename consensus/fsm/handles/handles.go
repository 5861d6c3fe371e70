// Package handles is the state machine's table of signing handles: the
// capability to sign with one key for one purpose until an expiry,
// perhaps a bounded number of times. The table holds the SHA-256 of each
// handle's token, never the token, so a copy of the log or a snapshot
// grants nothing; the token is returned once, to its issuer's caller.
//
// A handle is checked at the replicated time of the sign entry that uses
// it, so no node's clock can stretch its expiry. A revoked handle stays
// in the table until its expiry, so that its use is denied as revoked
// rather than unknown; expired handles are forgotten when the table is
// full. The package is pure, as package fsm is.
package handles

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/api/handle"
	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// Errors of the handle table. They are part of an entry's replicated outcome.
var (
	// ErrHandleDenied is returned when a handle does not grant the request:
	// unknown, expired, revoked, used up, or for another key or purpose.
	ErrHandleDenied = errors.New("handle denied")
	// ErrHandleExists is returned when a handle id is taken by another
	// request; clients that make their own tokens choose the id.
	ErrHandleExists = errors.New("handle id already exists")
)

// Handle is the replicated record of a capability to sign with one key for
// one purpose until Expires. It holds the SHA-256 of the token, never the
// token: a copy of the log or a snapshot grants nothing.
type Handle struct {
	ID        string   `json:"id"`
	TokenHash [32]byte `json:"token_hash"`
	Key       string   `json:"key"`
	Purpose   string   `json:"purpose"`
	Expires   int64    `json:"expires"`
	MaxUses   uint32   `json:"max_uses,omitempty"`
	Uses      uint32   `json:"uses"`
	Revoked   bool     `json:"revoked,omitempty"`
	Actor     string   `json:"actor"`
	// ActorSerial is the issuer's certificate serial: a handle dies with
	// its issuer's certificate too.
	ActorSerial string `json:"actor_serial,omitempty"`
	Issued      int64  `json:"issued"`
}

// Clone returns a copy, or nil for nil.
func (h *Handle) Clone() *Handle {
	if h == nil {
		return nil
	}
	c := *h
	return &c
}

// TokenHash is what the log carries in place of a handle's token.
func TokenHash(token []byte) [32]byte { return handle.Proof(string(token)) }

// Table is the handle table, by id.
type Table map[string]*Handle

// Bounds are the table's bounds: at most Max handles, each living at most
// MaxTTL nanoseconds.
type Bounds struct {
	Max    int
	MaxTTL int64
}

// Issue adds h, to live ttl nanoseconds from its Issued time, for a key
// whose handles may carry purposes. The id must be new; a full table
// first forgets its expired handles.
func (t Table) Issue(h *Handle, purposes []string, ttl int64, b Bounds) error {
	switch {
	case !slices.Contains(purposes, h.Purpose):
		return fmt.Errorf("issue handle for %q: %w: purpose %q is not one of %v", h.Key, fsmerr.ErrInvalidCommand, h.Purpose, purposes)
	case ttl <= 0 || ttl > b.MaxTTL:
		return fmt.Errorf("issue handle for %q: %w: ttl must be in (0, %d ns]", h.Key, fsmerr.ErrInvalidCommand, b.MaxTTL)
	case t[h.ID] != nil:
		return fmt.Errorf("issue handle: %w: id %s is taken", ErrHandleExists, h.ID)
	}
	if len(t) >= b.Max {
		t.expire(h.Issued)
		if len(t) >= b.Max {
			return fmt.Errorf("issue handle for %q: %w", h.Key, policy.ErrTooManyHandles)
		}
	}
	h.Expires = h.Issued + ttl
	t[h.ID] = h
	return nil
}

// Revoke ends handle id before its expiry.
func (t Table) Revoke(id string) (*Handle, error) {
	h, ok := t[id]
	if !ok {
		return nil, fmt.Errorf("revoke handle %s: %w: unknown or expired", id, ErrHandleDenied)
	}
	h.Revoked = true
	return h, nil
}

// RevokeTenant revokes every live handle of the tenant's keys and
// returns how many it revoked.
func (t Table) RevokeTenant(tenant string) int {
	n := 0
	for _, h := range t {
		if policy.TenantOf(h.Key) == tenant && !h.Revoked {
			h.Revoked = true
			n++
		}
	}
	return n
}

// Authorize reports why handle id, presented with proof (the SHA-256 of its
// token), does not grant a sign with key for purpose ("": any) at the
// replicated time now, or returns it. Every denial names its reason; an
// unknown handle and a wrong token read alike, so a guess learns nothing.
func (t Table) Authorize(id string, proof [32]byte, key, purpose string, now int64) (*Handle, error) {
	h, ok := t[id]
	if !ok || subtle.ConstantTimeCompare(h.TokenHash[:], proof[:]) != 1 {
		return nil, fmt.Errorf("%w: handle not recognised", ErrHandleDenied)
	}
	switch {
	case h.Revoked:
		return nil, fmt.Errorf("%w: handle %s is revoked", ErrHandleDenied, h.ID)
	case now >= h.Expires:
		return nil, fmt.Errorf("%w: handle %s expired", ErrHandleDenied, h.ID)
	case h.MaxUses > 0 && h.Uses >= h.MaxUses:
		return nil, fmt.Errorf("%w: handle %s is used up (%d uses)", ErrHandleDenied, h.ID, h.MaxUses)
	case key != "" && key != h.Key:
		return nil, fmt.Errorf("%w: handle %s is for key %q, not %q", ErrHandleDenied, h.ID, h.Key, key)
	case purpose != "" && purpose != h.Purpose:
		return nil, fmt.Errorf("%w: handle %s is for purpose %q, not %q", ErrHandleDenied, h.ID, h.Purpose, purpose)
	}
	return h, nil
}

// SameProof reports, in constant time, whether two token hashes are
// equal: a retry of a request must present the handle it was made with.
func SameProof(a, b [32]byte) bool { return subtle.ConstantTimeCompare(a[:], b[:]) == 1 }

// expire forgets handles past their expiry at now.
func (t Table) expire(now int64) {
	for id, h := range t {
		if now >= h.Expires {
			delete(t, id)
		}
	}
}

// Check refuses a restored table with a null handle.
func (t Table) Check() error {
	for id, h := range t {
		if h == nil {
			return fmt.Errorf("handle %q is null", id)
		}
	}
	return nil
}
