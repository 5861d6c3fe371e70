package node

import (
	"context"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/frostsign"
	"github.com/keyquorum/keyquorum/node/metrics"
)

// dispatch starts the work that applied entries ask of this node. Entries
// replayed from disk at start (index <= startIdx) are history: their work
// was done or abandoned before the restart, and the leader retries whatever
// is still pending under a new attempt.
//
// A signing attempt starts when this node applies and accepts its entry
// (sign_start.go). Under the trust-announce bug it may start earlier, on
// the leader's word (an announced event), and then not again when applied;
// both pass through this one goroutine, so no lock decides the race.
func (n *Node) dispatch(ctx context.Context) {
	applied := n.startIdx          // highest entry dispatched
	announced := map[string]bool{} // attempts started on announcement, until their entry is applied
	for {
		evs, ok := n.events.Take(ctx)
		if !ok {
			return
		}
		for _, ev := range evs {
			if ev.Announced != nil {
				if ev.Index <= applied {
					continue // applied here first: already started, or refused
				}
				for _, s := range ev.Announced {
					announced[frostsign.AttemptKey(s)] = true
					n.metrics.SignStarted(metrics.StartAnnounced)
					n.startSign(ctx, s)
				}
				continue
			}
			applied = max(applied, ev.Index)
			if ev.Index > n.startIdx {
				n.frost.Applied(ev.Index, ev.Cmd, ev.Res) // claims nonces before any work starts
			}
			if ev.Index <= n.startIdx || ev.Res.Err != nil || ev.Res.Duplicate {
				continue
			}
			switch ev.Cmd.(type) {
			case *fsm.CreateKey:
				if k := ev.Res.Key; k != nil && k.HasMember(n.self.ID) {
					n.spawn(func() { n.runKeygen(ctx, k, 1) })
				}
			case *fsm.SignRequested, *fsm.SignRetry:
				for _, s := range n.startedBy(ev.Index, ev.Res.Sign) {
					if announced[frostsign.AttemptKey(s)] {
						delete(announced, frostsign.AttemptKey(s))
						continue
					}
					n.metrics.SignStarted(metrics.StartApplied)
					n.startSign(ctx, s)
				}
			case *fsm.PresignRequested:
				if p := ev.Res.Presig; p != nil && slices.Contains(p.Committee, n.self.ID) {
					n.spawn(func() { n.presigs.Run(ctx, ev.Index, p) })
				}
			case *fsm.PresignDiscarded, *fsm.NodeBooted:
				n.parked.Sweep(n.fsm.HasPresig)
			default:
				n.lifecycleEvent(ctx, ev)
			}
		}
	}
}
