package node

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus"
)

// A handle token is "kqh_<id>_<secret>": the id (16 hex digits) names the
// replicated record, the secret (32 random bytes, base64url) proves
// possession. Only SHA-256 of the whole token enters the log.
const (
	handlePrefix    = "kqh_"
	handleIDLen     = 16
	handleSecretLen = 32
	maxHandleLen    = 128
)

type handleToken struct {
	id  string
	raw string
}

func (t handleToken) proof() [32]byte { return consensus.HandleTokenHash([]byte(t.raw)) }

// parseHandle checks a token's shape. It says nothing about validity,
// which only the FSM decides.
func parseHandle(s string) (handleToken, error) {
	if s == "" {
		return handleToken{}, status.Error(codes.InvalidArgument, "a handle is required: issue one with IssueHandle (`kq handle issue KEY`)")
	}
	rest, ok := strings.CutPrefix(s, handlePrefix)
	id, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(s) > maxHandleLen || len(id) != handleIDLen || !isHex(id) || len(secret) == 0 {
		return handleToken{}, status.Error(codes.InvalidArgument, "malformed handle: want kqh_<id>_<secret>")
	}
	return handleToken{id: id, raw: s}, nil
}

func newHandleToken() (handleToken, error) {
	var id [handleIDLen / 2]byte
	var secret [handleSecretLen]byte
	if _, err := rand.Read(id[:]); err != nil {
		return handleToken{}, err
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return handleToken{}, err
	}
	t := handleToken{id: hex.EncodeToString(id[:])}
	t.raw = handlePrefix + t.id + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	clear(secret[:])
	return t, nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

func (s *keyService) IssueHandle(ctx context.Context, req *kqpb.IssueHandleRequest) (*kqpb.Handle, error) {
	if err := ensureRequestID(&req.RequestId); err != nil {
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
func (n *Node) issueHandle(ctx context.Context, req *kqpb.IssueHandleRequest) (*kqpb.Handle, error) {
	if err := checkName(req.Key); err != nil {
		return nil, err
	}
	ttl := time.Duration(req.TtlMs) * time.Millisecond
	if ttl <= 0 || ttl > n.cluster.Handles.MaxTTL {
		return nil, status.Errorf(codes.InvalidArgument, "handle ttl %v: must be in (0, %v] (handles.max_ttl)", ttl, n.cluster.Handles.MaxTTL)
	}
	actor, err := n.actor(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := newHandleToken()
	if err != nil {
		return nil, status.Error(codes.Internal, "handle: no randomness")
	}
	purpose := req.Purpose
	if purpose == "" {
		purpose = consensus.DefaultPurpose
	}
	res, err := n.apply(ctx, &consensus.IssueHandle{RequestID: req.RequestId, HandleID: tok.id, TokenHash: tok.proof(),
		Key: req.Key, Purpose: purpose, TTL: int64(ttl), MaxUses: req.MaxUses, Actor: actor, Time: n.clock.Now().UnixNano()})
	if err != nil {
		return nil, err
	}
	h := res.Handle
	if res.Duplicate || h == nil || h.ID != tok.id {
		id := ""
		if h != nil {
			id = h.ID
		}
		return nil, status.Errorf(codes.AlreadyExists, "request %q already issued handle %s; its token is shown only once: revoke it and issue another under a new request id", req.RequestId, id)
	}
	return &kqpb.Handle{Handle: tok.raw, Id: h.ID, Key: h.Key, Purpose: h.Purpose, ExpiresAtUnixNano: h.Expires, MaxUses: h.MaxUses}, nil
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
	if strings.HasPrefix(id, handlePrefix) {
		tok, err := parseHandle(id)
		if err != nil {
			return nil, err
		}
		id = tok.id
	}
	if len(id) != handleIDLen || !isHex(id) {
		return nil, status.Error(codes.InvalidArgument, "handle id: want 16 hex digits or a whole handle")
	}
	actor, err := s.n.actor(ctx)
	if err != nil {
		return nil, err
	}
	res, err := s.n.apply(ctx, &consensus.RevokeHandle{RequestID: req.RequestId, HandleID: id, Actor: actor, Time: s.n.clock.Now().UnixNano()})
	if err != nil {
		return nil, err
	}
	if res.Handle == nil {
		return nil, status.Error(codes.Internal, "revoke handle: no record")
	}
	return &kqpb.RevokeHandleResponse{Id: res.Handle.ID, Key: res.Handle.Key}, nil
}
