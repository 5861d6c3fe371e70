// Package pool holds the state machine's pools of signing material made
// ahead of a request: ECDSA presignatures (Presigs) and FROST nonce
// commitments (Commitments). Their secret halves live in the members'
// memory; the replicated records decide, once and for every replica,
// which sign request consumes each, so none is ever used twice. A record
// names the key version, share epoch and committee or member it was made
// for, and is good for nothing else: a consume that does not match is
// refused, and what a retired version, a refresh or a member's restart
// made useless is dropped. Both pools are bounded, so members' reports
// cannot grow the state without limit.
//
// The package is pure, as package fsm is.
package pool

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// ErrPresigUnavailable is returned when a sign request names a
// presignature that is unknown, used, not ready, expired, or of another
// key, version or committee.
var ErrPresigUnavailable = errors.New("presignature unavailable")

// PresigState is the lifecycle state of a presignature. A used, discarded
// or expired presignature is deleted, so an entry naming it finds nothing.
type PresigState string

// Presignature states.
const (
	PresigPending PresigState = "pending" // members are running rounds 1-4
	PresigReady   PresigState = "ready"   // every member parked its half
)

// Presig is the replicated record of one ECDSA presignature. Its secret
// halves live in the members' memory; this record decides, once and for
// every replica, which sign request consumes it.
type Presig struct {
	ID        string      `json:"id"`
	Key       string      `json:"key"`
	Version   uint32      `json:"version"`
	Epoch     uint32      `json:"epoch"` // share epoch the halves were made with
	Committee []string    `json:"committee"`
	State     PresigState `json:"state"`
	Ready     []string    `json:"ready,omitempty"` // members parked, sorted
	// SessionIndex is the log index of the PresignRequested entry; with the
	// id it derives the session id.
	SessionIndex uint64 `json:"session_index"`
	Created      int64  `json:"created"`
	Expires      int64  `json:"expires"`
}

// Clone returns a deep copy.
func (p *Presig) Clone() *Presig {
	c := *p
	c.Committee = slices.Clone(p.Committee)
	c.Ready = slices.Clone(p.Ready)
	return &c
}

// Presigs is the presignature pool, by id.
type Presigs map[string]*Presig

// Parked records that node parked its half of presignature id during its
// process life boot, current being the life the log knows for it; the
// presignature is ready once every member of its committee did. A report
// from an earlier life describes a session that died with that process.
func (ps Presigs) Parked(id, node, boot, current string) (*Presig, error) {
	p, ok := ps[id]
	if !ok {
		return nil, fmt.Errorf("presignature %s: %w", id, fsmerr.ErrStale)
	}
	if !slices.Contains(p.Committee, node) || boot == "" || current != boot {
		return nil, fmt.Errorf("presignature %s from %s: %w", id, node, fsmerr.ErrStale)
	}
	if !slices.Contains(p.Ready, node) {
		p.Ready = append(p.Ready, node)
		slices.Sort(p.Ready)
	}
	if len(p.Ready) == len(p.Committee) {
		p.State = PresigReady
	}
	return p, nil
}

// Discard ends presignature id, which failed, stalled or expired.
func (ps Presigs) Discard(id string) error {
	if _, ok := ps[id]; !ok {
		return fmt.Errorf("presignature %s: %w", id, fsmerr.ErrStale)
	}
	delete(ps, id)
	return nil
}

// Consume checks that a sign request with key version at epoch by
// committee may use presignature id at now, and deletes it: from this
// entry on, no other request can name it.
func (ps Presigs) Consume(id, key string, version, epoch uint32, committee []string, now int64) error {
	p, ok := ps[id]
	switch {
	case !ok:
		return fmt.Errorf("%w: %s is unknown or used", ErrPresigUnavailable, id)
	case p.State != PresigReady:
		return fmt.Errorf("%w: %s is %s", ErrPresigUnavailable, id, p.State)
	case now >= p.Expires:
		delete(ps, id)
		return fmt.Errorf("%w: %s expired", ErrPresigUnavailable, id)
	case p.Key != key || p.Version != version || p.Epoch != epoch || !slices.Equal(p.Committee, committee):
		return fmt.Errorf("%w: %s belongs to another key, version or committee", ErrPresigUnavailable, id)
	}
	delete(ps, id)
	return nil
}

// Expire deletes presignatures past their expiry at now.
func (ps Presigs) Expire(now int64) {
	for id, p := range ps {
		if now >= p.Expires {
			delete(ps, id)
		}
	}
}

// DropVersion deletes the presignatures of a key version, which stopped
// signing or moved to new shares; members discard their parked halves
// when they see them gone.
func (ps Presigs) DropVersion(key string, version uint32) {
	for id, p := range ps {
		if p.Key == key && p.Version == version {
			delete(ps, id)
		}
	}
}

// DropMember deletes every presignature node took part in: parked
// sessions live in memory only, so they died with its process.
func (ps Presigs) DropMember(node string) {
	for id, p := range ps {
		if slices.Contains(p.Committee, node) {
			delete(ps, id)
		}
	}
}

// Count returns how many presignatures, pending or ready, key has.
func (ps Presigs) Count(key string) int {
	n := 0
	for _, p := range ps {
		if p.Key == key {
			n++
		}
	}
	return n
}

// OfTenant returns how many unexpired presignatures at now, pending or
// ready, the tenant's keys hold: the pools of all its ECDSA keys share
// its presigs quota, since every presignature keeps its committee busy
// whichever key it is for.
func (ps Presigs) OfTenant(tenant string, now int64) int {
	n := 0
	for _, p := range ps {
		if now < p.Expires && policy.TenantOf(p.Key) == tenant {
			n++
		}
	}
	return n
}

// Of returns copies of key's presignatures, oldest first.
func (ps Presigs) Of(key string) []*Presig {
	var out []*Presig
	for _, p := range ps {
		if p.Key == key {
			out = append(out, p.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *Presig) int { return cmp.Compare(a.SessionIndex, b.SessionIndex) })
	return out
}

// Check refuses a restored pool that applying a later entry would panic
// on: a null presignature, or one that names no key version of ks.
func (ps Presigs) Check(ks keys.Table) error {
	return checkVersions(ps, ks, "presignature")
}

func (p *Presig) keyVersion() (string, uint32) { return p.Key, p.Version }

// checkVersions refuses a restored pool with a null record or one that
// names no key version of ks; what names the records in the error.
func checkVersions[P interface {
	*E
	keyVersion() (string, uint32)
}, E any](pool map[string]P, ks keys.Table, what string) error {
	for id, r := range pool {
		if r == nil || !ks.HasVersion(r.keyVersion()) {
			return fmt.Errorf("%s %q names no key version", what, id)
		}
	}
	return nil
}

// Ask is a request for a presignature: its id, committee and lifetime
// (nanoseconds), and the entry that asks, at replicated time Now.
type Ask struct {
	ID        string
	Committee []string
	TTL       int64
	Index     uint64
	Now       int64
}

// Start records a new presignature of k's primary version, pending until
// every member of its committee parked its half. maxPerKey bounds the
// key's pool; tenantLimit (0: none) bounds the presignatures of all the
// tenant's keys (OfTenant).
func (ps Presigs) Start(k *keys.Key, a Ask, maxPerKey, tenantLimit int) (*Presig, error) {
	switch {
	case k.Primary == 0 || k.SignVersion(k.Primary) != nil:
		return nil, fmt.Errorf("presign %q: %w", k.Name, keys.ErrKeyNotActive)
	case k.Algorithm != "ecdsa-secp256k1":
		return nil, fmt.Errorf("presign %q: %w: presignatures are for ECDSA only", k.Name, fsmerr.ErrInvalidCommand)
	case a.ID == "" || a.TTL <= 0:
		return nil, fmt.Errorf("presign %q: %w: id and ttl are required", k.Name, fsmerr.ErrInvalidCommand)
	case ps[a.ID] != nil:
		return nil, fmt.Errorf("presign %q: %w: id %s taken", k.Name, fsmerr.ErrInvalidCommand, a.ID)
	}
	if err := k.CheckCommittee(a.Committee); err != nil {
		return nil, fmt.Errorf("presign %q: %w", k.Name, err)
	}
	ps.Expire(a.Now)
	if ps.Count(k.Name) >= maxPerKey {
		return nil, fmt.Errorf("presign %q: %w", k.Name, policy.ErrTooManyPresigs)
	}
	tenant := policy.TenantOf(k.Name)
	if tenantLimit > 0 && ps.OfTenant(tenant, a.Now) >= tenantLimit {
		return nil, fmt.Errorf("presign %q: %w", k.Name, policy.NewQuotaExceeded("tenant", tenant, policy.QuotaPresigs, tenantLimit, 0))
	}
	p := &Presig{ID: a.ID, Key: k.Name, Version: k.Primary, Epoch: k.Version(k.Primary).Epoch, Committee: slices.Clone(a.Committee), State: PresigPending,
		SessionIndex: a.Index, Created: a.Now, Expires: a.Now + a.TTL}
	ps[a.ID] = p
	return p, nil
}
