package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/metrics"
	"github.com/keyquorum/keyquorum/node/service"
	"github.com/keyquorum/keyquorum/tss"
)

// runKeygen takes part in distributed key generation for a key version (a
// new key's first, or a rotation's) and reports the outcome through the
// log: ShareStored once the share is sealed on disk, KeygenFailed otherwise.
func (n *Node) runKeygen(ctx context.Context, k *fsm.Key, version uint32) {
	kctx, cancel := context.WithTimeout(ctx, keygenTimeout)
	defer cancel()
	log := n.log.With("key", k.Name, "version", version)
	start := time.Now()
	share, err := n.keygen(kctx, k, k.Version(version))
	n.metrics.Session(metrics.KindKeygen, start, err)
	if err == nil {
		n.took.Add(metrics.KindKeygen, k.Algorithm, time.Since(start))
	}
	if err != nil {
		log.Warn("keygen failed", "err", err)
		n.reportOutcome(ctx, &fsm.KeygenFailed{Key: k.Name, Version: version, Node: n.self.ID, Reason: err.Error()})
		return
	}
	log.Info("share sealed", "algorithm", k.Algorithm)
	n.reportOutcome(ctx, &fsm.ShareStored{Key: k.Name, Version: version, Node: n.self.ID, PublicKey: share.PublicKey()})
}

// reportOutcome reports the end of long work under its own deadline: the
// work's deadline may be what ended it, and a failure that is never
// reported leaves the work pending until the leader's supervisor gives up.
func (n *Node) reportOutcome(ctx context.Context, cmd fsm.Command) {
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	n.report(ctx, cmd)
}

// reportTimeout bounds how long a member keeps trying to report an outcome.
const reportTimeout = time.Minute

func (n *Node) keygen(ctx context.Context, k *fsm.Key, v *fsm.Version) (*tss.Share, error) {
	alg, err := tss.ParseAlgorithm(k.Algorithm)
	if err != nil {
		return nil, err
	}
	req := tss.KeygenRequest{
		Session:   tss.NewSessionID(n.cluster.ID, "keygen", v.CreatedIndex, v.RequestID, 0),
		Algorithm: alg,
		Threshold: k.Threshold,
		Parties:   k.Members,
	}
	if alg == tss.ECDSASecp256k1 {
		if req.PreParams, err = n.pre.Wait(ctx); err != nil {
			return nil, err
		}
	}
	defer n.malice.Play(n.bugs, req.Session, v.RequestID, req.PreParams)()
	start := time.Now()
	share, err := n.engine.Keygen(ctx, req)
	if err != nil {
		return nil, err
	}
	n.log.Info("keygen done", "key", k.Name, "took", time.Since(start).Round(time.Millisecond))
	if err := n.shares.Put(ctx, k.Name, v.Number, 0, share); err != nil {
		return nil, err
	}
	return share, nil
}

// runSign takes part in one signing attempt and reports the signature. A
// failed attempt reports nothing: the leader's supervisor notices the
// stall and retries under another committee.
func (n *Node) runSign(ctx context.Context, s *fsm.Sign) {
	if len(s.Frost) > 0 {
		n.frost.Sign(ctx, s)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, n.cluster.Sign.Timeout)
	defer cancel()
	defer n.running.Add(s.Key, s.Version, cancel)()
	log := n.log.With("request", s.RequestID, "attempt", s.Attempt)
	start := time.Now()
	share, err := n.shares.Get(ctx, s.Key, s.Version, s.Epoch)
	if err != nil {
		n.metrics.Session(metrics.KindSign, start, err)
		log.Warn("sign: share unavailable", "err", err)
		return
	}
	session := tss.NewSessionID(n.cluster.ID, "sign", s.SessionIndex, s.RequestID, s.Attempt)
	defer n.malice.Play(n.bugs, session, s.RequestID, nil)()
	sig, err := n.engine.Sign(ctx, tss.SignRequest{
		Session:   session,
		Share:     share,
		Committee: s.Committee,
		Message:   s.Digest,
	})
	n.metrics.Session(metrics.KindSign, start, err)
	if err != nil {
		log.Warn("sign attempt failed", "err", err)
		n.blame.Abort(ctx, s, err)
		return
	}
	n.bypass.Signed(s, sig)
	n.reportSignature(ctx, s, sig)
}

// backupReportDelay is how long a committee member that is not the
// designated reporter waits before it reports the signature itself.
const backupReportDelay = 500 * time.Millisecond

// reportSignature appends the finished signature. Every member of the
// committee holds it, but one report is enough and each costs a Raft
// commit and a verification on every replica: the designated reporter (the
// leader when it is in the committee, whose append needs no extra hop, else
// the lowest member id) reports at once; the others report only if no
// report landed after backupReportDelay, so a reporter that crashed after
// signing costs half a second, not a retry.
func (n *Node) reportSignature(ctx context.Context, s *fsm.Sign, sig []byte) {
	if !n.designatedReporter(s.Committee) {
		select {
		case <-time.After(backupReportDelay):
		case <-ctx.Done():
			return
		}
	}
	if cur, ok := n.fsm.Sign(s.RequestID); ok && cur.State != fsm.SignStatePending {
		return // a report already landed
	}
	n.report(ctx, &fsm.SignCompleted{RequestID: s.RequestID, Attempt: s.Attempt, Node: n.self.ID, Signature: sig})
}

func (n *Node) designatedReporter(committee []string) bool {
	if leader, _ := n.raft.Leader(); slices.Contains(committee, leader) {
		return leader == n.self.ID
	}
	return slices.Min(committee) == n.self.ID
}

// report appends a member's report, through the leader when this node is
// not the leader, retrying until ctx ends while there is no leader.
func (n *Node) report(ctx context.Context, cmd fsm.Command) {
	data, err := n.encode(cmd)
	if err != nil {
		n.log.Error("encode report", "err", err)
		return
	}
	for {
		err := n.reportOnce(ctx, data)
		if err == nil || ctx.Err() != nil {
			return
		}
		n.log.Debug("report not appended yet", "type", cmd.Type(), "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (n *Node) reportOnce(ctx context.Context, data []byte) error {
	if n.raft.IsLeader() {
		_, _, err := n.raft.Apply(ctx, data)
		return err
	}
	leader, ok := n.leaderConfig()
	if !ok {
		return service.ErrNoLeader
	}
	conn, err := n.peers.Conn(leader.Peer)
	if err != nil {
		return err
	}
	_, err = kqpb.NewPeerServiceClient(conn).Propose(ctx, &kqpb.ProposeRequest{Command: data})
	return err
}

// proposeReport appends a report forwarded by member from. Members may only
// report their own work, so the member named in the report must be the one
// named in the caller's certificate.
func (n *Node) proposeReport(ctx context.Context, from string, data []byte) (uint64, error) {
	cmd, err := fsm.Decode(data)
	if err != nil {
		return 0, status.Error(codes.InvalidArgument, err.Error())
	}
	if err := checkReporter(cmd, from); err != nil {
		return 0, err
	}
	res, idx, err := n.raft.Apply(ctx, data)
	if err != nil {
		return 0, err
	}
	if r, ok := res.(fsm.Result); ok && r.Err != nil && !errors.Is(r.Err, fsm.ErrStale) {
		n.log.Warn("report refused", "from", from, "type", cmd.Type(), "err", r.Err)
	}
	return idx, nil
}

// checkReporter enforces that a member forwards only its own reports.
func checkReporter(cmd fsm.Command, from string) error {
	r, ok := cmd.(fsm.Report)
	if !ok {
		return status.Errorf(codes.PermissionDenied, "members may not propose %s", cmd.Type())
	}
	if r.Reporter() != from {
		return status.Errorf(codes.PermissionDenied, "%s may not report for %s", from, r.Reporter())
	}
	return nil
}

// reportPreParams tells the cluster this node can join ECDSA keygen.
func (n *Node) reportPreParams(ctx context.Context) error {
	for _, id := range n.fsm.PreParamsReady() {
		if id == n.self.ID {
			return nil
		}
	}
	data, err := n.encode(&fsm.PreParamsReady{Node: n.self.ID})
	if err != nil {
		return err
	}
	if err := n.reportOnce(ctx, data); err != nil {
		return fmt.Errorf("node: report pre-params: %w", err)
	}
	return nil
}
