package node

import (
	"context"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/blame"
)

// newBlameWork sets up this member's side of identifiable abort
// (node/blame).
func (n *Node) newBlameWork() *blame.Work {
	return blame.New(n.self.ID, n.clock, n.log, blameMember{n}, n.fsm)
}

// blameMember is what the blame work needs of this node.
type blameMember struct{ n *Node }

func (m blameMember) Report(ctx context.Context, cmd fsm.Command) { m.n.reportOutcome(ctx, cmd) }
func (m blameMember) Go(f func())                                 { m.n.spawn(f) }
func (m blameMember) RetryAvoiding(ctx context.Context, s *fsm.Sign, culprit, reason string) {
	m.n.retrySignAvoiding(ctx, s, culprit, reason)
}
func (m blameMember) NotReady(members []string) map[string]string { return m.n.notReady(members) }
func (m blameMember) IsMember(id string) bool                     { return m.n.members.Admits(id) }
func (m blameMember) PendingDropped() map[string]uint64           { return m.n.engine.PendingDropped() }
