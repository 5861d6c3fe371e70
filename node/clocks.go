package node

import (
	"time"

	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/node/clocksync"
	"github.com/keyquorum/keyquorum/node/config"
)

// newClockSync bounds this node's clock to a quorum's (node/clocksync).
func newClockSync(n *Node) (*clocksync.Sync, error) {
	return clocksync.New(n.self.ID, n.clock, n.cluster.Clock.MaxOffset, n.bugs.UnboundedTimeOn(), clockNode{n}, n.log)
}

// clockNode is what the clock sync reads of this node and asks of it.
type clockNode struct{ n *Node }

func (c clockNode) Voters() []config.NodeConfig                { return c.n.members.Voters() }
func (c clockNode) Conn(addr string) (*grpc.ClientConn, error) { return c.n.peers.Conn(addr) }
func (c clockNode) IsLeader() bool                             { return c.n.raft.IsLeader() }
func (c clockNode) StepDown() error                            { return c.n.raft.StepDown() }
func (c clockNode) Go(f func())                                { c.n.spawn(f) }

// notReady is clocksync.Sync.NotReady over this node's readings and replica.
func (n *Node) notReady(members []string) map[string]string {
	if n.clocks == nil {
		return nil
	}
	return n.clocks.NotReady(members, n.self.ID, n.fsm.AppliedIndex(), n.fsm.Boot, time.Now())
}
