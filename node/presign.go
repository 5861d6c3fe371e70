package node

import (
	"context"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/presign"
	"github.com/keyquorum/keyquorum/tss"
)

// newPresignWork sets up this process life's presignature work
// (node/presign).
func (n *Node) newPresignWork() *presign.Work {
	return presign.New(presign.Config{
		Cluster: n.cluster,
		Self:    n.self.ID,
		Boot:    n.boot,
		Parked:  n.parked,
		Log:     n.log,
		Metrics: n.metrics,
	}, presignMember{n}, n.fsm)
}

// presignMember is what the presignature work needs of this node.
type presignMember struct{ n *Node }

func (m presignMember) Report(ctx context.Context, cmd fsm.Command)  { m.n.report(ctx, cmd) }
func (m presignMember) Propose(ctx context.Context, cmd fsm.Command) { m.n.propose(ctx, cmd) }
func (m presignMember) ReportOnce(ctx context.Context, cmd fsm.Command) error {
	data, err := m.n.encode(cmd)
	if err != nil {
		return err
	}
	return m.n.reportOnce(ctx, data)
}
func (m presignMember) Go(f func()) { m.n.spawn(f) }
func (m presignMember) Share(ctx context.Context, key string, version, epoch uint32) (*tss.Share, error) {
	return m.n.shares.Get(ctx, key, version, epoch)
}
func (m presignMember) Presign(ctx context.Context, req tss.PresignRequest) (*tss.Presignature, error) {
	return m.n.engine.Presign(ctx, req)
}
func (m presignMember) Reachable() []string                         { return m.n.raft.Reachable() }
func (m presignMember) NotReady(members []string) map[string]string { return m.n.notReady(members) }
func (m presignMember) PickCommittee(k *fsm.Key, without string) ([]string, error) {
	return m.n.committees.PickWithout(k, without)
}
func (m presignMember) BlameAbort(ctx context.Context, s *fsm.Sign, err error) {
	m.n.blame.Abort(ctx, s, err)
}
func (m presignMember) ReportSignature(ctx context.Context, s *fsm.Sign, sig []byte) {
	m.n.reportSignature(ctx, s, sig)
}
