// Package presign is a member's work with ECDSA presignatures: the rules
// of a key's pool (which pooled presignatures a request may name, the
// refill counts, what a member's restart would take away), the halves this
// member has parked, in memory only (Parked), its part in making them and
// in finishing a signature from one (Work), and on the leader, the choice
// of the presignature a request names and the pool's refill.
package presign

import (
	"slices"
	"sync"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/tss"
)

// Parked holds this member's halves of presignatures, in memory only: a
// restart loses them, and NodeBooted tells the cluster so.
type Parked struct {
	mu sync.Mutex
	m  map[string]*tss.Presignature
}

// NewParked returns an empty store.
func NewParked() *Parked { return &Parked{m: map[string]*tss.Presignature{}} }

// Put parks a presignature.
func (p *Parked) Put(id string, ps *tss.Presignature) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[id] = ps
}

// Take removes and returns the presignature: it can be bound once.
func (p *Parked) Take(id string) *tss.Presignature {
	p.mu.Lock()
	defer p.mu.Unlock()
	ps := p.m[id]
	delete(p.m, id)
	return ps
}

// Sweep discards every parked presignature that keep rejects.
func (p *Parked) Sweep(keep func(id string) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, ps := range p.m {
		if !keep(id) {
			ps.Discard()
			delete(p.m, id)
		}
	}
}

// Len counts the parked presignatures.
func (p *Parked) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// Usable reports whether a request may name presignature p of key k
// now: ready, of the primary version's current epoch, not expiring before
// horizon, and every committee member reachable and ready.
func Usable(p *fsm.Presig, k *fsm.Key, horizon int64, reachable []string, notReady map[string]string) bool {
	if p.State != fsm.PresigReady || p.Version != k.Primary || p.Epoch != k.Current().Epoch || p.Expires <= horizon {
		return false
	}
	allReachable := !slices.ContainsFunc(p.Committee, func(m string) bool { return !slices.Contains(reachable, m) })
	return allReachable && !StalledBy(p, notReady)
}

// Standing is the part of a key's pool that the refill counts: the
// presignatures whose committee members are all ready. One with a member
// that is not ready (down, paused, restarted) parks late or never, or
// cannot be named; counted, a presignature pending with a killed member
// held back its key's refill (one at a time) until the member's restart
// discarded it, and a full pool of presignatures with a paused member
// left none to sign with.
func Standing(pool []*fsm.Presig, notReady map[string]string) []*fsm.Presig {
	return slices.DeleteFunc(slices.Clone(pool), func(p *fsm.Presig) bool { return StalledBy(p, notReady) })
}

// Refilling counts the pending presignatures in pool: a key refills one
// at a time.
func Refilling(pool []*fsm.Presig) int {
	pending := 0
	for _, p := range pool {
		if p.State == fsm.PresigPending {
			pending++
		}
	}
	return pending
}

// StalledBy reports whether a member of p's committee is not ready.
func StalledBy(p *fsm.Presig, notReady map[string]string) bool {
	return slices.ContainsFunc(p.Committee, func(m string) bool { return notReady[m] != "" })
}

// ExposedMembers returns the members in whose committee every presignature
// of a non-empty pool is. An empty pool exposes nobody here: the low-water
// rule refills it.
func ExposedMembers(members []string, pool []*fsm.Presig) []string {
	if len(pool) == 0 {
		return nil
	}
	var out []string
	for _, m := range members {
		if !slices.ContainsFunc(pool, func(p *fsm.Presig) bool { return !slices.Contains(p.Committee, m) }) {
			out = append(out, m)
		}
	}
	return out
}
