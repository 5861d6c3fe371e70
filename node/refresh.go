package node

import (
	"context"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/refresh"
	"github.com/keyquorum/keyquorum/tss"
)

// newRefreshWork sets up this member's part in refreshes and reshares
// (node/refresh).
func (n *Node) newRefreshWork() *refresh.Work {
	return refresh.New(refresh.Config{ClusterID: n.cluster.ID, Self: n.self.ID, Log: n.log, Timeout: keygenTimeout,
		Metrics: n.metrics, Took: n.took}, refreshMember{n})
}

// refreshMember is what the refresh work needs of this node.
type refreshMember struct{ n *Node }

func (m refreshMember) Report(ctx context.Context, cmd fsm.Command) { m.n.reportOutcome(ctx, cmd) }
func (m refreshMember) Go(f func())                                 { m.n.spawn(f) }
func (m refreshMember) Share(ctx context.Context, key string, version, epoch uint32) (*tss.Share, error) {
	return m.n.shares.Get(ctx, key, version, epoch)
}
func (m refreshMember) Seal(ctx context.Context, key string, version, epoch uint32, share *tss.Share) error {
	return m.n.shares.Put(ctx, key, version, epoch, share)
}
func (m refreshMember) PreParams(ctx context.Context) (*tss.PreParams, error) {
	return m.n.pre.Wait(ctx)
}
func (m refreshMember) Reshare(ctx context.Context, req tss.ReshareRequest) (*tss.Share, error) {
	return m.n.engine.Reshare(ctx, req)
}
