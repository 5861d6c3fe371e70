package node

import (
	"context"

	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/bypass"
	"github.com/keyquorum/keyquorum/node/config"
)

// newBypass sets up this member's part in the leader-bypass attack
// (node/bypass), which only kqd_bugs builds play.
func (n *Node) newBypass() *bypass.Work {
	return bypass.New(bypass.Config{Self: n.self.ID, Log: n.log,
		LeaderBypass: n.bugs.LeaderBypassOn(), TrustAnnounce: n.bugs.TrustAnnounceOn()}, bypassMember{n})
}

// bypassMember is what the leader-bypass attack needs of this node.
type bypassMember struct{ n *Node }

func (m bypassMember) Key(name string) (*fsm.Key, bool) { return m.n.fsm.Key(name) }
func (m bypassMember) PickCommittee(k *fsm.Key) ([]string, error) {
	return m.n.committees.Pick(k, nil, 0)
}
func (m bypassMember) ProposeEntry(ctx context.Context, cmd fsm.Command) (fsm.Result, uint64, error) {
	return m.n.proposeEntry(ctx, cmd)
}
func (m bypassMember) StartSign(ctx context.Context, s *fsm.Sign) { m.n.startSign(ctx, s) }
func (m bypassMember) CompanionOf(index uint64, s *fsm.Sign) []*fsm.Sign {
	return m.n.companionOf(index, s)
}
func (m bypassMember) Term() uint64                               { return m.n.raft.Term() }
func (m bypassMember) Peer(id string) (config.NodeConfig, bool)   { return m.n.members.Config(id) }
func (m bypassMember) Conn(addr string) (*grpc.ClientConn, error) { return m.n.peers.Conn(addr) }
func (m bypassMember) Go(f func())                                { m.n.spawn(f) }
func (m bypassMember) Announced(index uint64, signs []*fsm.Sign) {
	m.n.events.AddAnnounced(index, signs)
}
func (m bypassMember) LeaderCommitted(ctx context.Context, leader string, index, term uint64) (fsm.Command, error) {
	return m.n.raft.LeaderCommitted(ctx, leader, index, term)
}
