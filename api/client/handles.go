package client

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/keyquorum/keyquorum/api/handle"
	"github.com/keyquorum/keyquorum/api/kqpb"
)

// DefaultPurpose is the purpose every key has unless it was created with
// others.
const DefaultPurpose = "sign"

// HandleRequest asks for a handle: the capability to sign with Key for
// Purpose until TTL passes or MaxUses signatures are made.
type HandleRequest struct {
	Key string
	// Purpose is one of the key's purposes; "" means DefaultPurpose.
	Purpose string
	// TTL is the handle's lifetime, in whole milliseconds, at most the
	// cluster's handles.max_ttl.
	TTL time.Duration
	// MaxUses bounds the signatures; 0 means unlimited until expiry.
	MaxUses uint32
	// RequestID makes a retry safe; "" means a fresh one, reused by this
	// call's own retries.
	RequestID string
	_         struct{}
}

// Handle is an issued handle. Its Token is a bearer credential: whoever
// holds it may sign within the handle's scope. Token's String and GoString
// show only its id, so printing a Handle does not leak it; Token.Bearer
// returns the whole token.
type Handle struct {
	Token     handle.Token
	ID        string
	Key       string
	Purpose   string
	ExpiresAt time.Time // zero when not known (a handle from ParseHandle)
	MaxUses   uint32
	_         struct{}
}

// ParseHandle makes a Handle from a bearer token received from elsewhere
// (another process issued it) and the key it grants, for NewSigner. It
// checks only the token's shape.
func ParseHandle(key, bearer string) (*Handle, error) {
	tok, err := handle.Parse(bearer)
	if err != nil {
		return nil, fmt.Errorf("keyquorum: %w", err)
	}
	return &Handle{Token: tok, ID: tok.ID(), Key: key}, nil
}

// IssueHandle issues a handle under the caller's identity. The client makes
// the token itself and sends the cluster only its id and SHA-256, so the
// secret never crosses the network, and a retry with the same request id
// returns the same handle rather than a second one.
func (c *Client) IssueHandle(ctx context.Context, r HandleRequest) (*Handle, error) {
	if r.TTL < time.Millisecond || r.TTL%time.Millisecond != 0 {
		return nil, &Error{Op: "IssueHandle", Code: codes.InvalidArgument, Message: fmt.Sprintf("ttl %v: want whole milliseconds, at least 1ms", r.TTL)}
	}
	if r.Purpose == "" {
		r.Purpose = DefaultPurpose
	}
	if r.RequestID == "" {
		r.RequestID = newRequestID()
	}
	tok, err := handle.New()
	if err != nil {
		return nil, fmt.Errorf("keyquorum: make a handle token: %w", err)
	}
	proof := tok.Proof()
	req := &kqpb.IssueHandleRequest{Key: r.Key, Purpose: r.Purpose, TtlMs: uint64(r.TTL / time.Millisecond), MaxUses: r.MaxUses,
		RequestId: r.RequestID, HandleId: tok.ID(), TokenProof: proof[:]}
	h, err := invoke(ctx, c, "IssueHandle", r.RequestID, func(ctx context.Context, conn *grpc.ClientConn) (*kqpb.Handle, error) {
		return kqpb.NewKeyServiceClient(conn).IssueHandle(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	return &Handle{Token: tok, ID: h.GetId(), Key: h.GetKey(), Purpose: h.GetPurpose(),
		ExpiresAt: time.Unix(0, h.GetExpiresAtUnixNano()), MaxUses: h.GetMaxUses()}, nil
}

// RevokeHandle revokes a handle at once, by its id or whole token: signing
// requests with it are denied from then on. It is safe to repeat.
func (c *Client) RevokeHandle(ctx context.Context, idOrToken string) (*kqpb.RevokeHandleResponse, error) {
	req := &kqpb.RevokeHandleRequest{Handle: idOrToken, RequestId: newRequestID()}
	return invoke(ctx, c, "RevokeHandle", req.RequestId, func(ctx context.Context, conn *grpc.ClientConn) (*kqpb.RevokeHandleResponse, error) {
		return kqpb.NewKeyServiceClient(conn).RevokeHandle(ctx, req)
	})
}
