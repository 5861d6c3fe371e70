package service

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/handle"
	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// parseHandle checks a token's shape. It says nothing about validity,
// which only the FSM decides.
func parseHandle(s string) (handle.Token, error) {
	if s == "" {
		return handle.Token{}, status.Error(codes.InvalidArgument, "a handle is required: issue one with IssueHandle (`kq handle issue KEY`)")
	}
	t, err := handle.Parse(s)
	if err != nil {
		return handle.Token{}, status.Error(codes.InvalidArgument, err.Error())
	}
	return t, nil
}

func (s *keyService) IssueHandle(ctx context.Context, req *kqpb.IssueHandleRequest) (*kqpb.Handle, error) {
	if err := ensureRequestID(&req.RequestId); err != nil {
		return nil, err
	}
	if err := checkPurpose("purpose", req.Purpose); err != nil {
		return nil, err
	}
	if resp, forwarded, err := forward(ctx, s.n, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Handle, error) {
		return c.IssueHandle(ctx, req)
	}); forwarded {
		return resp, err
	}
	return s.n.issueHandle(ctx, req)
}

// issueHandle appends a new handle on the leader.
func (n *core) issueHandle(ctx context.Context, req *kqpb.IssueHandleRequest) (*kqpb.Handle, error) {
	if err := keyName(&req.Key); err != nil {
		return nil, err
	}
	ttl := time.Duration(req.TtlMs) * time.Millisecond
	// The replicated limit decides, not this node's file (which may drift).
	limits, _ := n.fsm.LimitsInForce()
	if maxTTL := time.Duration(limits.MaxHandleTTL); ttl <= 0 || ttl > maxTTL {
		return nil, status.Errorf(codes.InvalidArgument, "handle ttl %v: must be in (0, %v] (handles.max_ttl)", ttl, maxTTL)
	}
	actor, err := n.actor(ctx)
	if err != nil {
		return nil, err
	}
	id, proof, token, err := handleToIssue(req)
	if err != nil {
		return nil, err
	}
	purpose := req.Purpose
	if purpose == "" {
		purpose = fsm.DefaultPurpose
	}
	res, err := n.rt.Apply(ctx, &fsm.IssueHandle{RequestID: req.RequestId, HandleID: id, TokenHash: proof,
		Key: req.Key, Purpose: purpose, TTL: int64(ttl), MaxUses: req.MaxUses, Actor: actor, ActorSerial: n.actorSerial(ctx)})
	if err != nil {
		return nil, err
	}
	h := res.Handle
	if h == nil || h.ID != id || h.TokenHash != proof {
		// The request id issued another token: one the server made (shown
		// once, never stored) or another one the client made.
		id := ""
		if h != nil {
			id = h.ID
		}
		return nil, status.Errorf(codes.AlreadyExists, "request %q already issued handle %s under another token, which is shown only once: issue a new handle under a new request id (and revoke %[2]s if its token is lost)", req.RequestId, id)
	}
	return &kqpb.Handle{Handle: token, Id: h.ID, Key: h.Key, Purpose: h.Purpose, ExpiresAtUnixNano: h.Expires, MaxUses: h.MaxUses}, nil
}

// handleToIssue returns the id and proof of the token a request issues,
// and the token itself when this node makes it. A token the client made
// arrives as its id and proof alone, so a retry of the request carries the
// same ones and gets the same handle back.
func handleToIssue(req *kqpb.IssueHandleRequest) (id string, proof [32]byte, token string, err error) {
	switch {
	case req.HandleId == "" && len(req.TokenProof) == 0:
		t, err := handle.New()
		if err != nil {
			return "", proof, "", status.Error(codes.Internal, "handle: no randomness")
		}
		return t.ID(), t.Proof(), t.Bearer(), nil
	case !handle.ValidID(req.HandleId) || len(req.TokenProof) != len(proof):
		return "", proof, "", status.Errorf(codes.InvalidArgument, "a client-made handle needs both handle_id (16 hex digits) and token_proof (the token's SHA-256, %d bytes)", len(proof))
	}
	copy(proof[:], req.TokenProof)
	return req.HandleId, proof, "", nil
}

func (s *keyService) RevokeHandle(ctx context.Context, req *kqpb.RevokeHandleRequest) (*kqpb.RevokeHandleResponse, error) {
	if err := ensureRequestID(&req.RequestId); err != nil {
		return nil, err
	}
	if resp, forwarded, err := forward(ctx, s.n, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.RevokeHandleResponse, error) {
		return c.RevokeHandle(ctx, req)
	}); forwarded {
		return resp, err
	}
	id := req.Handle
	if handle.LooksLike(id) {
		tok, err := parseHandle(id)
		if err != nil {
			return nil, err
		}
		id = tok.ID()
	}
	if !handle.ValidID(id) {
		return nil, status.Error(codes.InvalidArgument, "handle id: want 16 hex digits or a whole handle")
	}
	actor, err := s.n.actor(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.n.rt.Apply(ctx, &fsm.RevokeHandle{RequestID: req.RequestId, HandleID: id, Actor: actor, ActorSerial: s.n.actorSerial(ctx)})
	if err != nil {
		return nil, err
	}
	if res.Handle == nil {
		return nil, status.Error(codes.Internal, "revoke handle: no record")
	}
	return &kqpb.RevokeHandleResponse{Id: res.Handle.ID, Key: res.Handle.Key}, nil
}
