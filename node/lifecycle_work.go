package node

import (
	"context"
	"fmt"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/policy"
	"github.com/keyquorum/keyquorum/node/applied"
	"github.com/keyquorum/keyquorum/node/members"
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
			n.refreshes.Start(ctx, k, ev.Res.Version)
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
			n.refreshes.Start(ctx, k, ev.Res.Version)
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
					n.refreshes.Start(ctx, k, ev.Res.Version)
				}
			}
		}
	}
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
