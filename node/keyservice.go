package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/tss"
)

// keyNamePattern keeps key names safe in file paths, logs and tables.
var keyNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// keyService implements KeyService. Every call is answered by the leader:
// a follower forwards it, so reads are linearizable and writes are ordered
// by one proposer.
type keyService struct {
	kqpb.UnimplementedKeyServiceServer
	n *Node
}

func (s *keyService) CreateKey(ctx context.Context, req *kqpb.CreateKeyRequest) (*kqpb.Key, error) {
	if err := ensureRequestID(&req.RequestId); err != nil {
		return nil, err
	}
	n := s.n
	if resp, forwarded, err := forward(ctx, n, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Key, error) {
		return c.CreateKey(ctx, req)
	}); forwarded {
		return resp, err
	}
	alg, err := algorithmFromProto(req.Algorithm)
	if err != nil {
		return nil, err
	}
	if err := checkName(req.Name); err != nil {
		return nil, err
	}
	members := n.cluster.NodeIDs()
	t := int(req.Threshold)
	if t == 0 {
		t = n.cluster.Threshold
	}
	if t < 1 || t >= len(members) {
		return nil, status.Errorf(codes.InvalidArgument, "threshold %d: need 1 <= threshold < %d members (threshold+1 members sign)", req.Threshold, len(members))
	}
	reqID, err := requestID(req.RequestId)
	if err != nil {
		return nil, err
	}
	// Key generation needs every member; starting it with one down would
	// only fail minutes later.
	if missing := absent(members, n.raft.Reachable()); len(missing) > 0 {
		return nil, status.Errorf(codes.Unavailable, "key generation needs every member; unreachable: %v", missing)
	}
	actor, err := n.actor(ctx)
	if err != nil {
		return nil, err
	}
	wake := n.waiters.watch(keyWaitKey(req.Name))
	res, err := n.apply(ctx, &consensus.CreateKey{RequestID: reqID, Name: req.Name, Algorithm: alg.String(),
		Threshold: t, Members: members, Actor: actor, Time: n.clock.Now().UnixNano()})
	if err != nil {
		return nil, err
	}
	for {
		k, _ := n.fsm.Key(req.Name)
		if k == nil || k.CreateRequestID != res.Key.CreateRequestID {
			return nil, status.Error(codes.Aborted, "key changed while waiting")
		}
		if k.State != consensus.KeyGenerating {
			if k.State == consensus.KeyFailed {
				return nil, status.Errorf(codes.Aborted, "key generation failed: %s", k.Failure)
			}
			return n.keyToProto(k)
		}
		select {
		case <-wake:
			wake = n.waiters.watch(keyWaitKey(req.Name))
		case <-ctx.Done():
			return nil, status.Errorf(codes.DeadlineExceeded, "key %q still generating (%d of %d shares stored); see `kq key get`", k.Name, len(k.Confirmed), len(k.Members))
		}
	}
}

func (s *keyService) GetKey(ctx context.Context, req *kqpb.GetKeyRequest) (*kqpb.Key, error) {
	if s.n.bugs.staleRead() {
		k, ok := s.n.fsm.Key(req.Name)
		if !ok {
			return nil, status.Errorf(codes.NotFound, "unknown key %q", req.Name)
		}
		return s.n.keyToProto(k)
	}
	if resp, forwarded, err := forward(ctx, s.n, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Key, error) {
		return c.GetKey(ctx, req)
	}); forwarded {
		return resp, err
	}
	k, err := s.n.readKey(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	return s.n.keyToProto(k)
}

func (s *keyService) ListKeys(ctx context.Context, req *kqpb.ListKeysRequest) (*kqpb.ListKeysResponse, error) {
	if !s.n.bugs.staleRead() {
		if resp, forwarded, err := forward(ctx, s.n, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.ListKeysResponse, error) {
			return c.ListKeys(ctx, req)
		}); forwarded {
			return resp, err
		}
		if err := s.n.raft.LinearizableRead(ctx); err != nil {
			return nil, toStatus(err)
		}
	}
	out := &kqpb.ListKeysResponse{}
	for _, k := range s.n.fsm.Keys() {
		if consensus.IsAuditKey(k.Name) {
			continue // the cluster's own key; `kq audit head` shows it
		}
		pk, err := s.n.keyToProto(k)
		if err != nil {
			return nil, err
		}
		out.Keys = append(out.Keys, pk)
	}
	return out, nil
}

func (s *keyService) Sign(ctx context.Context, req *kqpb.SignRequest) (*kqpb.SignResponse, error) {
	if err := ensureRequestID(&req.RequestId); err != nil {
		return nil, err
	}
	if resp, forwarded, err := forward(ctx, s.n, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.SignResponse, error) {
		return c.Sign(ctx, req)
	}); forwarded {
		return resp, err
	}
	start, path := time.Now(), pathNone
	resp, err := s.sign(ctx, req, &path)
	s.n.metrics.signDone(path, time.Since(start), err)
	return resp, err
}

// sign serves a sign request on the leader. It sets *path once the request
// is in the log: presigned when its record names a presignature.
func (s *keyService) sign(ctx context.Context, req *kqpb.SignRequest, path *string) (*kqpb.SignResponse, error) {
	n := s.n
	reqID, err := requestID(req.RequestId)
	if err != nil {
		return nil, err
	}
	k, err := n.usableKey(ctx, req.Key)
	if err != nil {
		return nil, err
	}
	n.lastSign.Store(time.Now().UnixNano())
	alg, _ := tss.ParseAlgorithm(k.Algorithm)
	if err := checkMessage(alg, req.Digest); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	actor, err := n.actor(ctx)
	if err != nil {
		return nil, err
	}
	entryID := reqID
	if _, seen := n.fsm.Sign(reqID); seen && n.bugs.skipDedup() {
		entryID += "#again-" + n.clock.Now().Format(time.RFC3339Nano)
	}
	wake := n.waiters.watch(signWaitKey(entryID))
	if err := n.proposeSign(ctx, k, !req.FullProtocol, &consensus.SignRequested{RequestID: entryID, Key: k.Name, Digest: req.Digest,
		Actor: actor, Time: n.clock.Now().UnixNano()}); err != nil {
		return nil, err
	}
	for {
		sg, ok := n.fsm.Sign(entryID)
		if !ok {
			return nil, status.Errorf(codes.Aborted, "request %q was evicted while waiting", reqID)
		}
		*path = pathFull
		if sg.Presig != "" {
			*path = pathPresigned
		}
		switch sg.State {
		case consensus.SignStateCompleted:
			return &kqpb.SignResponse{Key: sg.Key, Version: sg.Version, Signature: sg.Signature,
				Committee: sg.Committee, RequestId: reqID, Index: sg.Index, Presigned: sg.Presig != ""}, nil
		case consensus.SignStateFailed:
			return nil, status.Errorf(codes.Unavailable, "signing failed: %s", sg.Reason)
		}
		select {
		case <-wake:
			wake = n.waiters.watch(signWaitKey(entryID))
		case <-ctx.Done():
			return nil, status.Errorf(codes.DeadlineExceeded, "request %q still pending (attempt %d); retry with the same request id", reqID, sg.Attempt)
		}
	}
}

func (s *keyService) Verify(ctx context.Context, req *kqpb.VerifyRequest) (*kqpb.VerifyResponse, error) {
	if resp, forwarded, err := forward(ctx, s.n, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.VerifyResponse, error) {
		return c.Verify(ctx, req)
	}); forwarded {
		return resp, err
	}
	k, err := s.n.readKey(ctx, req.Key)
	if err != nil {
		return nil, err
	}
	if req.Version != 0 && req.Version != k.Version {
		return nil, status.Errorf(codes.NotFound, "key %q has no version %d", k.Name, req.Version)
	}
	if k.State != consensus.KeyActive {
		return nil, status.Errorf(codes.FailedPrecondition, "key %q is %s", k.Name, k.State)
	}
	alg, _ := tss.ParseAlgorithm(k.Algorithm)
	return &kqpb.VerifyResponse{Valid: tss.Verify(alg, k.PublicKey, req.Digest, req.Signature), Version: k.Version}, nil
}

// usableKey returns the named key if it can sign. The leader's own state
// answers the common case without a quorum round trip: the FSM checks the
// key again when it applies the request, so a stale "yes" is harmless. A
// "no" is confirmed by a linearizable read first, since a leader that has
// not applied everything yet could refuse a key that is already active.
func (n *Node) usableKey(ctx context.Context, name string) (*consensus.Key, error) {
	if k, ok := n.fsm.Key(name); ok && k.State == consensus.KeyActive {
		return k, nil
	}
	k, err := n.readKey(ctx, name)
	if err != nil {
		return nil, err
	}
	if k.State != consensus.KeyActive {
		return nil, status.Errorf(codes.FailedPrecondition, "key %q is %s", k.Name, k.State)
	}
	return k, nil
}

// readKey returns the named key as of a linearizable read on the leader.
func (n *Node) readKey(ctx context.Context, name string) (*consensus.Key, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := n.raft.LinearizableRead(ctx); err != nil {
		return nil, toStatus(err)
	}
	k, ok := n.fsm.Key(name)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown key %q", name)
	}
	return k, nil
}

// proposeSign appends a sign request. With a ready presignature in the
// pool it names that one and its committee; if the FSM refuses it (it
// expired, or its members restarted since), the request is appended again
// for the full protocol under a committee the leader can reach.
func (n *Node) proposeSign(ctx context.Context, k *consensus.Key, presign bool, cmd *consensus.SignRequested) error {
	if presign && n.presignable(k) {
		p, release, ok := n.choosePresig(k)
		if !ok {
			n.metrics.presigMisses.WithLabelValues(k.Name).Inc()
		} else {
			defer release()
			cmd.Committee, cmd.Presig = p.Committee, p.ID
			res, err := n.applyResult(ctx, cmd)
			if err == nil && res.Err == nil && !res.Duplicate {
				n.metrics.presigHits.WithLabelValues(k.Name).Inc()
			}
			if err != nil || !errors.Is(res.Err, consensus.ErrPresigUnavailable) {
				return toStatus(errors.Join(err, res.Err))
			}
			n.metrics.presigRefused.WithLabelValues(k.Name).Inc()
			n.log.Debug("presignature refused; signing with the full protocol", "presig", p.ID, "err", res.Err)
		}
	}
	committee, err := n.pickCommittee(k, nil, 0)
	if err != nil {
		return toStatus(err)
	}
	cmd.Committee, cmd.Presig = committee, ""
	_, err = n.apply(ctx, cmd)
	return err
}

// apply proposes a leader command and returns its replicated result, with
// a refused command as a gRPC status.
func (n *Node) apply(ctx context.Context, cmd consensus.Command) (consensus.Result, error) {
	r, err := n.applyResult(ctx, cmd)
	if err != nil {
		return consensus.Result{}, toStatus(err)
	}
	return r, toStatus(r.Err)
}

// applyResult proposes a leader command; err is a raft error, and a
// refusal by the state machine is in the Result.
func (n *Node) applyResult(ctx context.Context, cmd consensus.Command) (consensus.Result, error) {
	data, err := consensus.Encode(cmd)
	if err != nil {
		return consensus.Result{}, err
	}
	res, _, err := n.raft.Apply(ctx, data)
	if err != nil {
		return consensus.Result{}, err
	}
	nudgeMembers(n, cmd)
	markApplied(ctx) // the entry's audit record holds any refusal
	r, _ := res.(consensus.Result)
	return r, nil
}

// nudgeMembers tells the followers about a commit at once when committee
// members among them must act on it: otherwise they learn of it only on
// raft's next CommitTimeout tick, which would add up to 10 ms to every
// signature.
func nudgeMembers(n *Node, cmd consensus.Command) {
	switch cmd.(type) {
	case *consensus.CreateKey, *consensus.SignRequested, *consensus.SignRetry, *consensus.PresignRequested:
		n.raft.Nudge()
	}
}

// absent returns the elements of want missing from have.
func absent(want, have []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}

func checkName(name string) error {
	if !keyNamePattern.MatchString(name) {
		return status.Errorf(codes.InvalidArgument, "key name %q: use 1-64 letters, digits, '.', '_' or '-'", truncate(name, 80))
	}
	return nil
}

// ensureRequestID gives a request without an id one here, before it is
// forwarded, so that every retry of the forward carries the same id.
func ensureRequestID(id *string) error {
	v, err := requestID(*id)
	*id = v
	return err
}

// requestID validates a client's request id, or makes one: a request
// without an id is still recorded, it just cannot be retried safely.
func requestID(id string) (string, error) {
	if len(id) > maxRequestIDLen {
		return "", status.Errorf(codes.InvalidArgument, "request id longer than %d bytes", maxRequestIDLen)
	}
	if id != "" {
		return id, nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", status.Error(codes.Internal, err.Error())
	}
	return "auto-" + hex.EncodeToString(b[:]), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func algorithmFromProto(a kqpb.Algorithm) (tss.Algorithm, error) {
	switch a {
	case kqpb.Algorithm_ECDSA_SECP256K1:
		return tss.ECDSASecp256k1, nil
	case kqpb.Algorithm_ED25519:
		return tss.Ed25519, nil
	}
	return 0, status.Errorf(codes.InvalidArgument, "unknown algorithm %v: use ecdsa-secp256k1 or ed25519", a)
}

func (n *Node) keyToProto(k *consensus.Key) (*kqpb.Key, error) {
	out := &kqpb.Key{Name: k.Name, Version: k.Version, Threshold: uint32(k.Threshold), Members: k.Members,
		PublicKey: k.PublicKey, Failure: k.Failure, CreatedIndex: k.CreatedIndex, Confirmed: k.Confirmed}
	for _, p := range n.fsm.Presigs(k.Name) {
		if p.State == consensus.PresigReady {
			out.PresigsReady++
		} else {
			out.PresigsPending++
		}
	}
	alg, err := tss.ParseAlgorithm(k.Algorithm)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	switch alg {
	case tss.ECDSASecp256k1:
		out.Algorithm = kqpb.Algorithm_ECDSA_SECP256K1
	case tss.Ed25519:
		out.Algorithm = kqpb.Algorithm_ED25519
	}
	switch k.State {
	case consensus.KeyGenerating:
		out.State = kqpb.KeyState_KEY_STATE_GENERATING
	case consensus.KeyActive:
		out.State = kqpb.KeyState_KEY_STATE_ACTIVE
		if out.PublicKeyPem, err = tss.PublicKeyPEM(alg, k.PublicKey); err != nil {
			return nil, status.Error(codes.Internal, fmt.Sprintf("encode public key: %v", err))
		}
	case consensus.KeyFailed:
		out.State = kqpb.KeyState_KEY_STATE_FAILED
	}
	return out, nil
}
