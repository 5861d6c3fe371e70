// Package shred keeps a member's share files and tenant keys in line
// with the replicated state (Reconciler): it shreds what the state no
// longer needs and reports each shredding until the state records it.
package shred

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/store"
)

// The reconciler keeps this member's share files in line with the
// replicated state: a destroyed version's shares are shredded and the
// shredding reported; share files of epochs that are no longer current
// (after a refresh finished or failed) are shredded. It acts on state, not
// on events, so a node that crashed between an entry and its work catches
// up when it restarts.
//
// It looks only at keys an applied entry may have put out of line (and at
// keys whose work failed, until it succeeds), plus every key at start and
// every reconcileFullEvery: a follower that installed a snapshot sees no
// entries for what the snapshot holds. Listing every key's share
// directory on every pass would cost a directory read per key.

// State is the replicated state the reconciler reads: this member's
// replica. *fsm.FSM is one.
type State interface {
	Keys() []*fsm.Key
	Key(name string) (*fsm.Key, bool)
	TenantGeneration(tenant string) uint32
	TenantDeletions() []*fsm.TenantDeletion
}

// Shares is this member's share files. *store.Shares is one.
type Shares interface {
	Epochs(key string) map[uint32][]uint32
	Destroy(key string, version, epoch uint32) error
}

// TenantKeys is this member's tenant keys. *store.TenantKeys is one.
type TenantKeys interface {
	Held() ([]store.TenantGen, error)
	Shred(g store.TenantGen) error
}

// Member is what the reconciler needs of the member it runs in.
type Member interface {
	// Report appends this member's report, retrying while there is no
	// leader until ctx ends.
	Report(ctx context.Context, cmd fsm.Command)
	// EachPass is the member's own work at the start of every pass.
	EachPass()
}

// Reconciler is a member's share reconciler.
type Reconciler struct {
	self       string // this member's id
	log        *slog.Logger
	m          Member
	state      State
	shares     Shares
	tenantKeys TenantKeys
	dirty      *dirtyKeys
}

// New returns a member's share reconciler, with every key to look at.
func New(self string, log *slog.Logger, m Member, state State, shares Shares, tenantKeys TenantKeys) *Reconciler {
	return &Reconciler{self: self, log: log, m: m, state: state, shares: shares, tenantKeys: tenantKeys, dirty: newDirtyKeys()}
}

// Mark asks for key to be reconciled soon: an applied entry may have put
// its share files out of line.
func (r *Reconciler) Mark(key string) { r.dirty.mark(key) }

// WakeAll asks for every key (and every tenant) to be reconciled soon.
func (r *Reconciler) WakeAll() { r.dirty.wakeAll() }

const (
	// reconcileRetry is how soon unfinished work on a key is tried again.
	reconcileRetry = 5 * time.Second
	// reconcileFullEvery is how often every key is looked at.
	reconcileFullEvery = 5 * time.Minute
)

// dirtyKeys is the set of keys the reconciler must look at.
type dirtyKeys struct {
	mu   sync.Mutex
	keys map[string]bool
	all  bool
	wake chan struct{}
}

func newDirtyKeys() *dirtyKeys {
	return &dirtyKeys{keys: map[string]bool{}, all: true, wake: make(chan struct{}, 1)}
}

// mark asks for key to be reconciled soon.
func (d *dirtyKeys) mark(key string) {
	d.requeue(key)
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// requeue asks for key to be reconciled on the next pass.
func (d *dirtyKeys) requeue(key string) {
	d.mu.Lock()
	d.keys[key] = true
	d.mu.Unlock()
}

func (d *dirtyKeys) markAll() {
	d.mu.Lock()
	d.all = true
	d.mu.Unlock()
}

// wakeAll asks for every key (and every tenant) to be reconciled soon.
func (d *dirtyKeys) wakeAll() {
	d.markAll()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// take empties the set; all reports that every key is to be looked at.
func (d *dirtyKeys) take() (keys []string, all bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k := range d.keys {
		keys = append(keys, k)
	}
	all, d.keys, d.all = d.all, map[string]bool{}, false
	return keys, all
}

// Run reconciles until ctx ends: every key at start, the keys marked
// since the last pass, every key every reconcileFullEvery.
func (r *Reconciler) Run(ctx context.Context) {
	retry := time.NewTicker(reconcileRetry)
	defer retry.Stop()
	full := time.NewTicker(reconcileFullEvery)
	defer full.Stop()
	for {
		r.m.EachPass()
		for _, k := range r.keysToReconcile() {
			if !r.reconcileKey(ctx, k) {
				r.dirty.requeue(k.Name)
			}
		}
		r.reconcileTenants(ctx)
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
		case <-full.C:
			r.dirty.markAll()
		case <-r.dirty.wake:
		}
	}
}

// keysToReconcile takes the dirty keys from the state: every key when a
// full pass is due.
func (r *Reconciler) keysToReconcile() []*fsm.Key {
	names, all := r.dirty.take()
	if all {
		return r.state.Keys()
	}
	var keys []*fsm.Key
	for _, name := range names {
		if k, ok := r.state.Key(name); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// reconcileKey brings the key's share files in line with its state. It
// reports whether nothing is left to do: every stale file is gone and
// every shredding of a destroyed version is confirmed in the state.
func (r *Reconciler) reconcileKey(ctx context.Context, k *fsm.Key) bool {
	self := r.self
	if !k.HasMember(self) {
		return r.reconcileNonHolder(ctx, k)
	}
	done := true
	held := r.shares.Epochs(k.Name)
	for _, v := range k.Versions {
		keep := map[uint32]bool{}
		switch {
		case v.State == fsm.KeyDestroyed:
		case v.State == fsm.KeyGenerating || v.State == fsm.KeyFailed:
			continue // a generation's file is written before it is reported
		default:
			keep[v.Epoch] = true
			if r := v.Refresh; r != nil && slices.Contains(r.Parties(k), self) {
				keep[r.Epoch] = true
			}
		}
		for _, e := range held[v.Number] {
			if keep[e] {
				continue
			}
			if err := r.shares.Destroy(k.Name, v.Number, e); err != nil {
				r.log.Warn("shred share", "key", k.Name, "version", v.Number, "epoch", e, "err", err)
				done = false
				continue
			}
			r.log.Info("share shredded", "key", k.Name, "version", v.Number, "epoch", e)
		}
		if v.State == fsm.KeyDestroyed && v.Destroy != nil && !slices.Contains(v.Destroy.Shredded, r.self) {
			// Reported until the state shows it: the report may be lost
			// with a leader.
			done = false
			cmd := &fsm.ShareDestroyed{Key: k.Name, Version: v.Number, Node: r.self}
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			r.m.Report(rctx, cmd)
			cancel()
		}
	}
	return done
}

// reconcileNonHolder handles a key this node holds no current share of: a
// new share being received is kept; every other file is shredded, and a
// former holder reports it (SharesShredded) until the state shows it.
func (r *Reconciler) reconcileNonHolder(ctx context.Context, k *fsm.Key) bool {
	self := r.self
	done := true
	for version, epochs := range r.shares.Epochs(k.Name) {
		v := k.Version(version)
		for _, e := range epochs {
			if v != nil && v.Refresh != nil && v.Refresh.Epoch == e && slices.Contains(v.Refresh.Parties(k), self) {
				continue // being received: a reshare to this node is running
			}
			if err := r.shares.Destroy(k.Name, version, e); err != nil {
				r.log.Warn("shred share", "key", k.Name, "version", version, "epoch", e, "err", err)
				done = false
				continue
			}
			r.log.Info("share of a key this node no longer holds shredded", "key", k.Name, "version", version, "epoch", e)
		}
	}
	if !done {
		return false
	}
	if !k.Unshredded(self) {
		return true
	}
	// Reported until the state shows it: the report may be lost with a
	// leader.
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	r.m.Report(rctx, &fsm.SharesShredded{Key: k.Name, Node: self})
	cancel()
	return false
}

// reconcileTenants shreds the keys of tenant generations the replicated
// state has deleted, and reports each deletion this node has carried out
// until the state records it: the per-node evidence of the shredding.
func (r *Reconciler) reconcileTenants(ctx context.Context) bool {
	held, err := r.tenantKeys.Held()
	if err != nil {
		r.log.Warn("list tenant keys", "err", err)
		return false
	}
	done := true
	for _, g := range held {
		if g.Gen >= r.state.TenantGeneration(g.Tenant) {
			continue
		}
		if err := r.tenantKeys.Shred(g); err != nil {
			r.log.Warn("shred tenant key", "tenant", g.Tenant, "generation", g.Gen, "err", err)
			done = false
			continue
		}
		r.log.Info("tenant key shredded", "tenant", g.Tenant, "generation", g.Gen)
	}
	if !done {
		return false
	}
	for _, d := range r.state.TenantDeletions() {
		if slices.Contains(d.Shredded, r.self) {
			continue
		}
		done = false // reported until the state shows it
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r.m.Report(rctx, &fsm.TenantShredded{Tenant: d.Tenant, Generation: d.Generation, Node: r.self})
		cancel()
	}
	return done
}
