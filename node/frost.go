package node

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/frostsign"
	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/frost"
)

// newFrostWork sets up this process life's FROST work (node/frostsign).
func (n *Node) newFrostWork() *frostsign.Work {
	return frostsign.New(frostsign.Config{
		Cluster:       n.cluster,
		Self:          n.self.ID,
		Boot:          n.boot,
		Log:           n.log,
		Metrics:       n.metrics,
		ReportTimeout: reportTimeout,
		NonceReuse:    n.bugs.FrostNonceReuseOn(),
	}, frostMember{n}, n.fsm)
}

// frostMember is what the FROST work needs of this node.
type frostMember struct{ n *Node }

func (m frostMember) Report(ctx context.Context, cmd fsm.Command)  { m.n.report(ctx, cmd) }
func (m frostMember) Propose(ctx context.Context, cmd fsm.Command) { m.n.propose(ctx, cmd) }
func (m frostMember) Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	return m.n.applyResult(ctx, cmd)
}
func (m frostMember) Go(f func()) { m.n.spawn(f) }
func (m frostMember) Share(ctx context.Context, key string, version, epoch uint32) (*tss.Share, error) {
	return m.n.shares.Get(ctx, key, version, epoch)
}

func (m frostMember) PeerConn(id string) (*grpc.ClientConn, error) {
	peer, ok := m.n.members.Config(id)
	if !ok {
		return nil, fmt.Errorf("node: no peer %s", id)
	}
	return m.n.peers.Conn(peer.Peer)
}

func (m frostMember) Leader() string {
	leader, _ := m.n.raft.Leader()
	return leader
}
func (m frostMember) IsLeader() bool      { return m.n.raft.IsLeader() }
func (m frostMember) Reachable() []string { return m.n.raft.Reachable() }
func (m frostMember) Eligible(members []string, need int) []string {
	return m.n.blame.Eligible(members, need)
}
func (m frostMember) Committee(members []string, size int) []string {
	return m.n.committees.First(members, size)
}
func (m frostMember) Applied(requestID string) <-chan struct{} {
	return m.n.waiters.WatchApplied(requestID)
}
func (m frostMember) Blame(ctx context.Context, s *fsm.Sign, culprit, check string, evidence [32]byte) {
	m.n.blame.Report(ctx, s, culprit, check, evidence)
}
func (m frostMember) RetryAvoiding(ctx context.Context, s *fsm.Sign, culprit, reason string) {
	m.n.retrySignAvoiding(ctx, s, culprit, reason)
}

// FrostShare takes a committee member's signature share as coordinator.
func (s *peerService) FrostShare(ctx context.Context, req *kqpb.FrostShareRequest) (*kqpb.FrostShareAck, error) {
	from, err := s.n.peerIdentity(ctx)
	if err != nil {
		return nil, err
	}
	if len(req.Share) != frost.SignatureShareSize {
		return nil, status.Errorf(codes.InvalidArgument, "a FROST share is %d bytes", frost.SignatureShareSize)
	}
	if err := s.n.frost.Receive(ctx, from, req); err != nil {
		return nil, err
	}
	return &kqpb.FrostShareAck{}, nil
}
