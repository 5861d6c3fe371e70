package frostsign

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
	"github.com/keyquorum/keyquorum/node/reserve"
	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/frost"
)

// FROST nonces on a member.
//
// A member keeps a pool of FROST round-one outputs for every Ed25519 key
// version it holds a share of: the secret nonces in this process's memory
// only, the commitments published through the log (FrostCommitted). A
// sign request names one published commitment per committee member and
// the FSM deletes them as it accepts the request, so a commitment is
// named once, ever. This member takes the nonce out of its pool when its
// own replica applies that entry (Applied, on the dispatch
// goroutine, in log order), and frost.Sign consumes it before computing
// anything. A restart loses every nonce and NodeBooted deletes the
// commitments that named them.

// frostPoolTick is how often a member tops up its pools when no
// signature woke it sooner.
const frostPoolTick = 100 * time.Millisecond

// frostUnpublishedTTL bounds how long a nonce waits for its report to be
// applied; after it, the report is taken as lost and the nonce discarded
// (a commitment that lands later only fails the attempt that names it).
const frostUnpublishedTTL = 2 * time.Minute

type frostSlot struct {
	key            string
	version, epoch uint32
}

type frostNonce struct {
	slot      frostSlot
	nonces    frost.Nonces
	made      time.Time
	published bool   // its FrostCommitted entry was applied and accepted
	goneAt    uint64 // applied index at which the FSM was first seen without it
}

// Work is this process life's FROST state and work.
type Work struct {
	cfg   Config
	m     Member
	state State
	log   *slog.Logger

	mu      sync.Mutex
	nonces  map[string]*frostNonce // commitment id -> nonce, unclaimed
	claimed map[string]frost.Nonces
	groups  map[frostSlot]*tss.FrostGroup
	agg     map[string]*frostAgg // coordinator: attempt -> shares received

	ctx        atomic.Pointer[context.Context] // the node's run context, for work an RPC starts
	dispatched atomic.Uint64                   // highest entry Applied has seen
	poke       chan struct{}
	reserved   reserve.Set // leader: commitment ids named by proposals in flight
}

// New returns a member's FROST work, with empty pools.
func New(cfg Config, m Member, state State) *Work {
	return &Work{cfg: cfg, m: m, state: state, log: cfg.Log,
		nonces: map[string]*frostNonce{}, claimed: map[string]frost.Nonces{},
		groups: map[frostSlot]*tss.FrostGroup{}, agg: map[string]*frostAgg{}, poke: make(chan struct{}, 1)}
}

// frostGroup returns this member's FROST view of a key version's share,
// derived once per share and kept in memory like the opened share itself.
func (w *Work) frostGroup(ctx context.Context, slot frostSlot) (*tss.FrostGroup, error) {
	f := w
	f.mu.Lock()
	g, ok := f.groups[slot]
	f.mu.Unlock()
	if ok {
		return g, nil
	}
	sh, err := w.m.Share(ctx, slot.key, slot.version, slot.epoch)
	if err != nil {
		return nil, err
	}
	if g, err = sh.Frost(); err != nil {
		return nil, fmt.Errorf("node: FROST view of %s v%d: %w", slot.key, slot.version, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.groups[slot]; ok {
		g.Key.Wipe()
		return old, nil
	}
	f.groups[slot] = g
	return g, nil
}

// runCtx returns the node's run context: work started by an RPC (a
// report, a retry) must outlive the call but not the node.
func (f *Work) runCtx() context.Context {
	if c := f.ctx.Load(); c != nil {
		return *c
	}
	return context.Background()
}

// Run keeps this member's commitment pools full while FROST is on.
func (w *Work) Run(ctx context.Context) {
	w.ctx.Store(&ctx)
	if !w.On() || w.cfg.Cluster.Sign.FrostPool == 0 {
		return
	}
	tick := time.NewTicker(frostPoolTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-w.poke:
		}
		w.reconcileFrost()
		if w.state.Protocol() < fsm.Since(&fsm.FrostCommitted{}) {
			continue // the cluster does not replicate commitments yet
		}
		if w.state.Boot(w.cfg.Self) != w.cfg.Boot {
			continue // until NodeBooted is applied the FSM refuses this life's reports
		}
		for _, k := range w.state.Keys() {
			if ctx.Err() != nil {
				return
			}
			w.refillFrost(ctx, k)
		}
	}
}

// refillFrost tops up this member's pool for a key's primary version.
func (w *Work) refillFrost(ctx context.Context, k *fsm.Key) {
	if k.Algorithm != tss.Ed25519.String() || !k.HasMember(w.cfg.Self) || k.Primary == 0 || k.SignVersion(k.Primary) != nil {
		return
	}
	v := k.Version(k.Primary)
	slot := frostSlot{k.Name, v.Number, v.Epoch}
	target := min(w.cfg.Cluster.Sign.FrostPool, pool.MaxFrostPerMember)
	have := w.count(slot)
	if have > target/2 {
		// Refill in batches of half the pool: each report is a raft
		// entry, fsynced on every node, so fewer and larger ones cost
		// less per signature (the entry's size hardly matters).
		return
	}
	g, err := w.frostGroup(ctx, slot)
	if err != nil {
		w.log.Debug("FROST pool: share unavailable", "key", k.Name, "version", v.Number, "err", err)
		return
	}
	cmd := &fsm.FrostCommitted{Key: k.Name, Version: v.Number, Epoch: v.Epoch, Node: w.cfg.Self, Boot: w.cfg.Boot}
	made := map[string]*frostNonce{}
	for range min(target-have, pool.MaxFrostBatch) {
		nonces, c, err := frost.Commit(g.Key, w.frostRand())
		if err != nil {
			w.log.Warn("FROST commit", "key", k.Name, "err", err)
			break
		}
		b, _ := c.MarshalBinary()
		id := newFrostID()
		made[id] = &frostNonce{slot: slot, nonces: nonces, made: time.Now()}
		cmd.Commitments = append(cmd.Commitments, fsm.FrostCommit{ID: id, Commitment: b})
	}
	if len(made) == 0 {
		return
	}
	w.mu.Lock()
	for id, nc := range made {
		w.nonces[id] = nc
	}
	w.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	w.m.Report(rctx, cmd)
}

// count returns the nonces held for a slot, published or not yet.
func (f *Work) count(slot frostSlot) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := 0
	for _, nc := range f.nonces {
		if nc.slot == slot {
			c++
		}
	}
	return c
}

// reconcileFrost discards nonces whose commitments the log no longer
// holds: consumed ones were claimed by Applied first, so what is
// left was deleted by a restart, a refresh, a retirement or a
// destruction. A commitment seen missing at applied index i is dropped
// only once Applied has passed i: until then it may be the entry
// that consumed it, not yet claimed.
func (w *Work) reconcileFrost() {
	ids, applied := w.state.FrostIDsOf(w.cfg.Self)
	dispatched := w.dispatched.Load()
	f := w
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, nc := range f.nonces {
		switch {
		case !nc.published:
			if time.Since(nc.made) > frostUnpublishedTTL {
				nc.nonces.Discard()
				delete(f.nonces, id)
			}
		case ids[id]:
			nc.goneAt = 0
		case nc.goneAt == 0:
			nc.goneAt = applied
		case dispatched >= nc.goneAt:
			nc.nonces.Discard()
			delete(f.nonces, id)
		}
	}
	for slot, g := range f.groups {
		if k, ok := w.state.Key(slot.key); !ok || k.Version(slot.version) == nil || k.Version(slot.version).Epoch != slot.epoch {
			g.Key.Wipe()
			delete(f.groups, slot)
		}
	}
}

// Applied runs on the dispatch goroutine for every entry applied in
// this process life, before the entry starts any work. It marks this
// member's published commitments, discards refused ones, and claims the
// nonce an accepted sign request consumed, so the attempt (and nothing
// else, ever) can sign with it.
func (w *Work) Applied(index uint64, cmd fsm.Command, res fsm.Result) {
	f := w
	defer f.dispatched.Store(index)
	switch c := cmd.(type) {
	case *fsm.FrostCommitted:
		if c.Node != w.cfg.Self || c.Boot != w.cfg.Boot {
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, cm := range c.Commitments {
			nc, ok := f.nonces[cm.ID]
			switch {
			case !ok:
			case res.Err == nil:
				nc.published = true
			default:
				nc.nonces.Discard()
				delete(f.nonces, cm.ID)
			}
		}
		if res.Err != nil {
			w.log.Warn("FROST commitments refused", "key", c.Key, "err", res.Err)
		}
	case *fsm.SignRequested:
		s := res.Sign
		if res.Err != nil || res.Duplicate || s == nil {
			return
		}
		for _, cm := range s.Frost {
			if cm.Node != w.cfg.Self {
				continue
			}
			f.mu.Lock()
			nc, ok := f.nonces[cm.ID]
			delete(f.nonces, cm.ID)
			if ok {
				f.claimed[AttemptKey(s)] = nc.nonces
			}
			f.mu.Unlock()
			if !ok {
				w.log.Warn("FROST commitment named by a request has no nonce here", "request", s.RequestID, "commitment", cm.ID)
			}
			select { // the pool just shrank
			case f.poke <- struct{}{}:
			default:
			}
		}
	}
}

// claim takes the nonces claimed for an attempt: once.
func (f *Work) claim(s *fsm.Sign) (frost.Nonces, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	nc, ok := f.claimed[AttemptKey(s)]
	delete(f.claimed, AttemptKey(s))
	return nc, ok
}

func newFrostID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "f-" + hex.EncodeToString(b[:])
}
