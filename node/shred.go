package node

import (
	"context"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/shred"
)

// newShred sets up this member's share reconciler (node/shred).
func (n *Node) newShred() *shred.Reconciler {
	return shred.New(n.self.ID, n.log, shredMember{n}, n.fsm, n.shares, n.tenantKeys)
}

// shredMember is what the share reconciler needs of this node.
type shredMember struct{ n *Node }

func (m shredMember) Report(ctx context.Context, cmd fsm.Command) { m.n.report(ctx, cmd) }

// EachPass opens the peer links of members added since: the reconciler's
// pass is this member's periodic look at the state.
func (m shredMember) EachPass() { m.n.ensurePeerLinks() }
