package node

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// The share reconciler keeps this node's share files in line with the
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

func (n *Node) runReconciler(ctx context.Context) {
	retry := time.NewTicker(reconcileRetry)
	defer retry.Stop()
	full := time.NewTicker(reconcileFullEvery)
	defer full.Stop()
	for {
		n.ensurePeerLinks()
		for _, k := range n.keysToReconcile() {
			if !n.reconcileKey(ctx, k) {
				n.dirty.requeue(k.Name)
			}
		}
		n.reconcileTenants(ctx)
		select {
		case <-ctx.Done():
			return
		case <-retry.C:
		case <-full.C:
			n.dirty.markAll()
		case <-n.dirty.wake:
		}
	}
}

// keysToReconcile takes the dirty keys from the state: every key when a
// full pass is due.
func (n *Node) keysToReconcile() []*fsm.Key {
	names, all := n.dirty.take()
	if all {
		return n.fsm.Keys()
	}
	var keys []*fsm.Key
	for _, name := range names {
		if k, ok := n.fsm.Key(name); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// reconcileKey brings the key's share files in line with its state. It
// reports whether nothing is left to do: every stale file is gone and
// every shredding of a destroyed version is confirmed in the state.
func (n *Node) reconcileKey(ctx context.Context, k *fsm.Key) bool {
	self := n.self.ID
	if !k.HasMember(self) {
		return n.reconcileNonHolder(ctx, k)
	}
	done := true
	held := n.shares.Epochs(k.Name)
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
			if err := n.shares.Destroy(k.Name, v.Number, e); err != nil {
				n.log.Warn("shred share", "key", k.Name, "version", v.Number, "epoch", e, "err", err)
				done = false
				continue
			}
			n.log.Info("share shredded", "key", k.Name, "version", v.Number, "epoch", e)
		}
		if v.State == fsm.KeyDestroyed && v.Destroy != nil && !slices.Contains(v.Destroy.Shredded, n.self.ID) {
			// Reported until the state shows it: the report may be lost
			// with a leader.
			done = false
			cmd := &fsm.ShareDestroyed{Key: k.Name, Version: v.Number, Node: n.self.ID}
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			n.report(rctx, cmd)
			cancel()
		}
	}
	return done
}

// reconcileNonHolder handles a key this node holds no current share of: a
// new share being received is kept; every other file is shredded, and a
// former holder reports it (SharesShredded) until the state shows it.
func (n *Node) reconcileNonHolder(ctx context.Context, k *fsm.Key) bool {
	self := n.self.ID
	done := true
	for version, epochs := range n.shares.Epochs(k.Name) {
		v := k.Version(version)
		for _, e := range epochs {
			if v != nil && v.Refresh != nil && v.Refresh.Epoch == e && slices.Contains(v.Refresh.Parties(k), self) {
				continue // being received: a reshare to this node is running
			}
			if err := n.shares.Destroy(k.Name, version, e); err != nil {
				n.log.Warn("shred share", "key", k.Name, "version", version, "epoch", e, "err", err)
				done = false
				continue
			}
			n.log.Info("share of a key this node no longer holds shredded", "key", k.Name, "version", version, "epoch", e)
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
	n.report(rctx, &fsm.SharesShredded{Key: k.Name, Node: self})
	cancel()
	return false
}

// reconcileTenants shreds the keys of tenant generations the replicated
// state has deleted, and reports each deletion this node has carried out
// until the state records it: the per-node evidence of the shredding.
func (n *Node) reconcileTenants(ctx context.Context) bool {
	held, err := n.tenantKeys.Held()
	if err != nil {
		n.log.Warn("list tenant keys", "err", err)
		return false
	}
	done := true
	for _, g := range held {
		if g.Gen >= n.fsm.TenantGeneration(g.Tenant) {
			continue
		}
		if err := n.tenantKeys.Shred(g); err != nil {
			n.log.Warn("shred tenant key", "tenant", g.Tenant, "generation", g.Gen, "err", err)
			done = false
			continue
		}
		n.log.Info("tenant key shredded", "tenant", g.Tenant, "generation", g.Gen)
	}
	if !done {
		return false
	}
	for _, d := range n.fsm.TenantDeletions() {
		if slices.Contains(d.Shredded, n.self.ID) {
			continue
		}
		done = false // reported until the state shows it
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		n.report(rctx, &fsm.TenantShredded{Tenant: d.Tenant, Generation: d.Generation, Node: n.self.ID})
		cancel()
	}
	return done
}
