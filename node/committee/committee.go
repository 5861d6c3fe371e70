// Package committee picks, on the leader, the members that sign an
// attempt: threshold+1 of a key's holders it can reach, rotating over the
// possible committees so that work spreads over members, and leaving out
// the members the blame rule excludes and those not ready while enough
// others remain. Retries of an attempt a member was blamed in rotate
// apart from first attempts.
package committee

import (
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/service"
)

// Member is what the picker needs of the leader it runs on.
type Member interface {
	// Reachable returns the members the leader can reach.
	Reachable() []string
	// Eligible leaves out of sorted members those the blame rule
	// excludes or that are not ready, unless fewer than need would remain.
	Eligible(members []string, need int) []string
}

// Picker picks committees. Request handlers and the supervisor share it.
type Picker struct {
	m             Member
	rotation      atomic.Uint64 // spreads committees over members
	retryRotation atomic.Uint64 // the same for blamed retries, apart (see nextRetry)
}

// New returns a picker over the leader's view of its members.
func New(m Member) *Picker { return &Picker{m: m} }

// Pick chooses threshold+1 members of k the leader can reach. It rotates
// through the possible committees so load spreads over members, and
// avoids the committee given in avoid when another one exists.
func (p *Picker) Pick(k *fsm.Key, avoid []string, salt uint64) ([]string, error) {
	return p.pick(k, avoid, salt, "")
}

// PickWithout is Pick over the members of k other than without.
func (p *Picker) PickWithout(k *fsm.Key, without string) ([]string, error) {
	return p.pick(k, nil, 0, without)
}

func (p *Picker) pick(k *fsm.Key, avoid []string, salt uint64, without string) ([]string, error) {
	var reachable []string
	for _, m := range p.m.Reachable() {
		if k.HasMember(m) && m != without {
			reachable = append(reachable, m)
		}
	}
	size := k.Threshold + 1
	reachable = p.m.Eligible(reachable, size)
	if len(reachable) < size {
		return nil, fmt.Errorf("%w: %d of %d members of %q reachable, %d needed", service.ErrTooFewMembers, len(reachable), len(k.Members), k.Name, size)
	}
	combos := combinations(reachable, size)
	start := int((p.next() + salt) % uint64(len(combos)))
	for i := range combos {
		c := combos[(start+i)%len(combos)]
		if !slices.Equal(c, avoid) {
			return c, nil
		}
	}
	return combos[start], nil
}

// First picks one size-member committee of sorted members by the
// rotation of first attempts.
func (p *Picker) First(members []string, size int) []string {
	combos := combinations(members, size)
	return combos[int(p.next()%uint64(len(combos)))]
}

// Retry picks one size-member committee of sorted members for the retry
// of an attempt a member was blamed in, by the rotation of those retries.
func (p *Picker) Retry(members []string, size int) []string {
	combos := combinations(members, size)
	return combos[int(p.nextRetry()%uint64(len(combos)))]
}

func (p *Picker) next() uint64 { return p.rotation.Add(1) }

// nextRetry is next for the retry of an attempt a member was blamed in.
// Were those retries to advance the rotation of first attempts, a member
// that spoils every attempt it is in would shift that rotation in step
// with itself: with three members and threshold 1, first attempts would
// alternate between two committees only, pairing the culprit with the
// same honest member each time, its only accuser, and the blame rule's
// second accuser would never come.
func (p *Picker) nextRetry() uint64 { return p.retryRotation.Add(1) }

// combinations returns every size-element subset of sorted xs, in order.
func combinations(xs []string, size int) [][]string {
	var out [][]string
	var rec func(start int, cur []string)
	rec = func(start int, cur []string) {
		if len(cur) == size {
			out = append(out, slices.Clone(cur))
			return
		}
		for i := start; i < len(xs); i++ {
			rec(i+1, append(cur, xs[i]))
		}
	}
	rec(0, nil)
	return out
}
