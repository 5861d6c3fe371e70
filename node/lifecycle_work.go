package node

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/policy"
	"github.com/keyquorum/keyquorum/node/applied"
	"github.com/keyquorum/keyquorum/node/members"
	"github.com/keyquorum/keyquorum/node/metrics"
	"github.com/keyquorum/keyquorum/tss"
)

// lifecycleEvent starts what an applied lifecycle entry asks of this node.
func (n *Node) lifecycleEvent(ctx context.Context, ev applied.Event) {
	switch c := ev.Cmd.(type) {
	case *fsm.ChangeKey:
		k := ev.Res.Key
		if k == nil {
			return
		}
		switch c.Op {
		case fsm.OpRotate:
			if k.HasMember(n.self.ID) {
				n.spawn(func() { n.runKeygen(ctx, k, ev.Res.Version) })
			}
		case fsm.OpRefresh:
			n.startRefresh(ctx, k, ev.Res.Version)
		case fsm.OpRevoke:
			// The entry failed the version's pending requests; their
			// sessions can only waste CPU now. (A retirement lets them
			// finish, as the FSM does.)
			if stopped := n.running.Cancel(k.Name, ev.Res.Version); stopped > 0 {
				n.log.Info("stopped signing sessions of a revoked version", "key", k.Name, "version", ev.Res.Version, "sessions", stopped)
			}
			n.parked.Sweep(n.fsm.HasPresig)
		case fsm.OpRetire:
			n.parked.Sweep(n.fsm.HasPresig)
		}
	case *fsm.ReshareKey:
		if k := ev.Res.Key; k != nil {
			n.startRefresh(ctx, k, ev.Res.Version)
		}
	case *fsm.SharesShredded:
		n.shred.Mark(c.Key)
	case *fsm.ChangeMembers:
		n.ensurePeerLinks()
	case *fsm.DestroyDue:
		n.parked.Sweep(n.fsm.HasPresig)
		n.shred.Mark(c.Key)
	case *fsm.ShareRefreshed:
		n.parked.Sweep(n.fsm.HasPresig)
		n.shred.Mark(c.Key)
	case *fsm.RefreshFailed:
		n.parked.Sweep(n.fsm.HasPresig)
		n.shred.Mark(c.Key)
	case *fsm.DeleteTenant:
		// A forced deletion destroyed versions itself, and the tenant's
		// key is to be shredded: look at everything now.
		n.parked.Sweep(n.fsm.HasPresig)
		n.shred.WakeAll()
	case *fsm.Freeze:
		// The entry failed every pending request; their sessions can only
		// waste CPU now.
		for _, id := range ev.Res.Ended {
			if s, ok := n.fsm.Sign(id); ok {
				n.running.Cancel(s.Key, s.Version)
			}
		}
	case *fsm.ApproveCeremony:
		// An executed ceremony made one of the changes above (a tenant
		// deleted, a destroy scheduled): ceremonies are rare, so look at
		// everything.
		if c := ev.Res.Ceremony; c != nil && c.State == ceremony.Executed {
			n.parked.Sweep(n.fsm.HasPresig)
			n.shred.WakeAll()
			switch c.Kind {
			case policy.KindMembership: // as after a ChangeMembers
				n.ensurePeerLinks()
			case policy.KindThreshold: // as after a ReshareKey
				if k := ev.Res.Key; k != nil {
					n.startRefresh(ctx, k, ev.Res.Version)
				}
			}
		}
	}
}

// startRefresh starts this node's part in a refresh or reshare that an
// applied entry started: dealing when it is in the old committee,
// receiving when it is a new holder.
func (n *Node) startRefresh(ctx context.Context, k *fsm.Key, version uint32) {
	v := k.Version(version)
	if v == nil || v.Refresh == nil {
		return
	}
	if slices.Contains(v.Refresh.Committee, n.self.ID) || slices.Contains(v.Refresh.Parties(k), n.self.ID) {
		n.spawn(func() { n.runRefresh(ctx, k, version) })
	}
}

// runRefresh takes part in resharing a version: every new holder receives
// a new share of the same public key; the old committee deals. The new
// share is sealed under the next epoch beside the old one, which stays in
// use until every new holder confirmed (see node/shred). A dealer that
// is no new holder reports nothing: its share becomes useless with the
// switch.
func (n *Node) runRefresh(ctx context.Context, k *fsm.Key, version uint32) {
	v := k.Version(version)
	r := v.Refresh
	rctx, cancel := context.WithTimeout(ctx, keygenTimeout)
	defer cancel()
	log := n.log.With("key", k.Name, "version", version, "epoch", r.Epoch)
	start := time.Now()
	share, err := n.refresh(rctx, k, v)
	n.metrics.Session(metrics.KindRefresh, start, err)
	if err == nil {
		n.took.Add(metrics.KindRefresh, k.Algorithm, time.Since(start))
	}
	if err != nil {
		log.Warn("refresh failed", "err", err)
		n.reportOutcome(ctx, &fsm.RefreshFailed{Key: k.Name, Version: version, Epoch: r.Epoch, Node: n.self.ID, Reason: err.Error()})
		return
	}
	if share == nil {
		log.Info("dealt new shares; this node holds none of them")
		return
	}
	log.Info("refreshed share sealed")
	n.reportOutcome(ctx, &fsm.ShareRefreshed{Key: k.Name, Version: version, Epoch: r.Epoch, Node: n.self.ID, PublicKey: share.PublicKey()})
}

func (n *Node) refresh(ctx context.Context, k *fsm.Key, v *fsm.Version) (*tss.Share, error) {
	alg, err := tss.ParseAlgorithm(k.Algorithm)
	if err != nil {
		return nil, err
	}
	r := v.Refresh
	parties := r.Parties(k)
	req := tss.ReshareRequest{
		Session:      tss.NewSessionID(n.cluster.ID, "refresh", r.Index, r.RequestID, 0),
		OldCommittee: r.Committee,
		OldParties:   k.Members,
		NewParties:   parties,
		NewThreshold: r.NewThreshold(k),
		Epoch:        r.Epoch,
		Algorithm:    alg,
		PublicKey:    v.PublicKey,
	}
	// Only a dealer needs its old share: a holder that only receives (or
	// a node that joins) takes the public facts from the state.
	if slices.Contains(r.Committee, n.self.ID) {
		if req.Share, err = n.shares.Get(ctx, k.Name, v.Number, v.Epoch); err != nil {
			return nil, err
		}
	}
	if alg == tss.ECDSASecp256k1 && slices.Contains(parties, n.self.ID) {
		if req.PreParams, err = n.pre.Wait(ctx); err != nil {
			return nil, err
		}
	}
	share, err := n.engine.Reshare(ctx, req)
	if err != nil {
		return nil, err
	}
	if share == nil {
		if slices.Contains(parties, n.self.ID) {
			return nil, fmt.Errorf("node: refresh of %s v%d gave this new holder no share", k.Name, v.Number)
		}
		return nil, nil
	}
	if err := n.shares.Put(ctx, k.Name, v.Number, r.Epoch, share); err != nil {
		return nil, err
	}
	return share, nil
}

// checkLifecycle runs on the leader's supervisor tick: it executes
// destructions whose pending period passed and fails refreshes that
// outlived keygenTimeout.
func (s *supervisor) checkLifecycle(ctx context.Context, now time.Time) {
	n := s.n
	live := map[string]bool{}
	// A destruction is due by the bounded clock only: a leader whose clock
	// ran ahead of a quorum's must not shorten the window operators have to
	// cancel it (the state machine checks the stamp against it again).
	clusterNow, clockErr := n.clocks.Now()
	for _, k := range n.fsm.Keys() {
		for _, v := range k.Versions {
			if d := v.Destroy; d != nil && !d.Executed && clockErr == nil && clusterNow.UnixNano() >= d.At {
				cmd := &fsm.DestroyDue{Key: k.Name, Version: v.Number}
				n.spawn(func() { n.propose(ctx, cmd) })
			}
			if r := v.Refresh; r != nil {
				id := fmt.Sprintf("%s/v%d/e%d", k.Name, v.Number, r.Epoch)
				live[id] = true
				if s.overdue(s.refreshes, id, r.Started, now) {
					cmd := &fsm.RefreshFailed{Key: k.Name, Version: v.Number, Epoch: r.Epoch, Node: n.self.ID,
						Reason: fmt.Sprintf("timed out after %s waiting for %v", keygenTimeout, members.Absent(r.Parties(k), r.Confirmed))}
					n.spawn(func() { n.propose(ctx, cmd) })
				}
			}
		}
	}
	for id := range s.refreshes {
		if !live[id] {
			delete(s.refreshes, id)
		}
	}
}
