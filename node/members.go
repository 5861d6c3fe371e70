package node

import (
	"context"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/members"
)

// newMembership sets up the leader's membership reconciler (node/members).
func (n *Node) newMembership() *members.Reconciler {
	return members.NewReconciler(members.Config{Self: n.self.ID, Log: n.log, EarlyVoter: n.bugs.EarlyVoterOn()},
		n.members, membershipLeader{n}, n.fsm)
}

// membershipLeader is what the membership reconciler needs of this node.
type membershipLeader struct{ n *Node }

func (l membershipLeader) Reachable() []string         { return l.n.raft.Reachable() }
func (l membershipLeader) SuffrageOf(id string) string { return l.n.raft.SuffrageOf(id) }
func (l membershipLeader) AddNonvoter(ctx context.Context, id, addr string) error {
	return l.n.raft.AddNonvoter(ctx, id, addr)
}
func (l membershipLeader) AddVoter(ctx context.Context, id, addr string) error {
	return l.n.raft.AddVoter(ctx, id, addr)
}
func (l membershipLeader) RemoveServer(ctx context.Context, id string) error {
	return l.n.raft.RemoveServer(ctx, id)
}
func (l membershipLeader) StepDown() error            { return l.n.raft.StepDown() }
func (l membershipLeader) EnsurePeer(id, addr string) { l.n.peers.Ensure(id, addr) }
func (l membershipLeader) Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	return l.n.applyResult(ctx, cmd)
}
func (l membershipLeader) PickCommittee(k *fsm.Key) ([]string, error) {
	return l.n.committees.Pick(k, nil, 0)
}
func (l membershipLeader) ClusterNow() (time.Time, error) { return l.n.clocks.Now() }
func (l membershipLeader) Go(f func())                    { l.n.spawn(f) }

// ensurePeerLinks opens a peer link to every member that has none yet.
func (n *Node) ensurePeerLinks() {
	for _, m := range n.members.All() {
		if m.State != membership.Removed {
			n.peers.Ensure(m.ID, m.Peer)
		}
	}
}

// leaderConfig returns the addresses of the member this node believes leads.
func (n *Node) leaderConfig() (config.NodeConfig, bool) {
	id, _ := n.raft.Leader()
	if id == "" || id == n.self.ID {
		return config.NodeConfig{}, false
	}
	return n.members.Config(id)
}
