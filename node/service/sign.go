package service

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/metrics"
	"github.com/keyquorum/keyquorum/tss"
)

func (s *keyService) Sign(ctx context.Context, req *kqpb.SignRequest) (*kqpb.SignResponse, error) {
	if err := ensureRequestID(&req.RequestId); err != nil {
		return nil, err
	}
	if err := checkPurpose("purpose", req.Purpose); err != nil {
		return nil, err
	}
	if resp, forwarded, err := forward(ctx, s.n, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.SignResponse, error) {
		return c.Sign(ctx, req)
	}); forwarded {
		return resp, err
	}
	start, path := time.Now(), metrics.PathNone
	resp, err := s.sign(ctx, req, &path)
	s.n.metrics.SignDone(path, time.Since(start), err)
	return resp, err
}

// sign serves a sign request on the leader. It sets *path once the request
// is in the log: presigned when its record names a presignature. The
// leader checks only what is cheap and cannot change; the FSM decides the
// rest (handle, version, floors) at the entry's place in the log.
func (s *keyService) sign(ctx context.Context, req *kqpb.SignRequest, path *string) (*kqpb.SignResponse, error) {
	n := s.n
	reqID, err := requestID(req.RequestId)
	if err != nil {
		return nil, err
	}
	if forge := n.faults.ForgeSign; forge != nil {
		if resp, forged, err := forge(ctx, req); forged {
			return resp, err
		}
	}
	tok, err := parseHandle(req.Handle)
	if err != nil {
		return nil, err
	}
	k, err := n.handleKey(ctx, tok.ID())
	if err != nil {
		return nil, err
	}
	if req.Key != "" {
		// The FSM decides whether the handle grants this key; only the
		// name's shape is checked here.
		if err := keyName(&req.Key); err != nil {
			return nil, err
		}
	}
	n.rt.SignAsked()
	alg, _ := tss.ParseAlgorithm(k.Algorithm)
	if err := tss.CheckMessage(alg, req.Digest); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	actor, err := n.actor(ctx)
	if err != nil {
		return nil, err
	}
	signKey := k.Name
	if req.Key != "" {
		signKey = req.Key
	}
	if err := n.admitSign(actor, signKey, reqID); err != nil {
		return nil, ToStatus(err)
	}
	entryID := reqID
	if _, seen := n.fsm.Sign(reqID); seen && n.faults.SkipDedup {
		entryID += "#again-" + n.clock.Now().Format(time.RFC3339Nano)
	}
	wake := n.rt.WatchSign(entryID)
	cmd := &fsm.SignRequested{RequestID: entryID, Key: k.Name, Handle: tok.ID(), HandleProof: tok.Proof(),
		Purpose: req.Purpose, Version: req.Version, Digest: req.Digest, Actor: actor, ActorSerial: n.actorSerial(ctx)}
	if req.Key != "" {
		cmd.Key = req.Key
	}
	proposed := time.Now()
	dup, frostUsed, err := n.rt.ProposeSign(ctx, k, !req.FullProtocol, cmd)
	if err != nil {
		return nil, err
	}
	ordered := time.Now()
	frosted := len(cmd.Frost) > 0 // the log accepted the commitments named
	for {
		sg, ok := n.fsm.Sign(entryID)
		if !ok {
			return nil, status.Errorf(codes.Aborted, "request %q was evicted while waiting", reqID)
		}
		*path = metrics.PathFull
		if sg.Presig != "" {
			*path = metrics.PathPresigned
		}
		resp, done, err := n.signOutcome(sg, reqID)
		if frosted && sg.Attempt == 1 {
			*path = metrics.PathFrost
			if resp != nil {
				resp.Frost = !dup
				for _, c := range frostUsed {
					resp.FrostCommitments = append(resp.FrostCommitments, c.Commitment)
				}
			}
		}
		if done {
			if err == nil && !dup { // a retry's answer says nothing of where time goes
				n.metrics.SignPhases(proposed, ordered)
			}
			return resp, err
		}
		select {
		case <-wake:
			wake = n.rt.WatchSign(entryID)
		case <-ctx.Done():
			return nil, status.Errorf(codes.DeadlineExceeded, "request %q still pending (attempt %d); retry with the same request id", reqID, sg.Attempt)
		}
	}
}

// signOutcome reads a request's result: done once it and its dual-sign
// companion, if any, have ended. A failed companion fails the request: a
// caller inside a dual-sign window relies on both signatures.
func (n *core) signOutcome(sg *fsm.Sign, reqID string) (*kqpb.SignResponse, bool, error) {
	parts := []*fsm.Sign{sg}
	if sg.Dual != "" {
		d, ok := n.fsm.Sign(sg.Dual)
		if !ok {
			return nil, true, status.Errorf(codes.Aborted, "request %q: dual signature record was evicted", reqID)
		}
		parts = append(parts, d)
	}
	for _, p := range parts {
		switch p.State {
		case fsm.SignStatePending:
			return nil, false, nil
		case fsm.SignStateFailed:
			return nil, true, status.Errorf(codes.Unavailable, "signing with v%d failed: %s", p.Version, p.Reason)
		}
	}
	resp := &kqpb.SignResponse{Key: sg.Key, Version: sg.Version, Signature: sg.Signature, Committee: sg.Committee,
		RequestId: reqID, Index: sg.Index, Presigned: sg.Presig != ""}
	for _, p := range parts {
		resp.Signatures = append(resp.Signatures, &kqpb.VersionSignature{Version: p.Version, Signature: p.Signature})
	}
	return resp, true, nil
}

// handleKey returns the key a handle names. The leader's own state answers
// the common case; an unknown handle is confirmed by a linearizable read
// before the refusal, since a leader may not have applied its issue yet.
func (n *core) handleKey(ctx context.Context, id string) (*fsm.Key, error) {
	h, ok := n.fsm.Handle(id)
	if !ok {
		if err := n.rt.LinearizableRead(ctx); err != nil {
			return nil, ToStatus(err)
		}
		if h, ok = n.fsm.Handle(id); !ok {
			return nil, status.Error(codes.PermissionDenied, "handle denied: handle not recognised")
		}
	}
	k, ok := n.fsm.Key(h.Key)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "unknown key %q", h.Key)
	}
	return k, nil
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
	version := req.Version
	if version == 0 {
		version = k.Primary
	}
	if version == 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "key %q is %s", k.Name, k.State())
	}
	if err := k.VerifyVersion(version); err != nil {
		return nil, ToStatus(err)
	}
	alg, _ := tss.ParseAlgorithm(k.Algorithm)
	return &kqpb.VerifyResponse{Valid: tss.Verify(alg, k.Version(version).PublicKey, req.Digest, req.Signature), Version: version}, nil
}
