package client

import (
	"context"
	"path"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// The methods here reach the RPCs the typed methods do not wrap (key
// lifecycle, policy, audit, operator calls) with the same failover.

var _ grpc.ClientConnInterface = (*Client)(nil)

// Invoke makes a unary call of any keyquorum RPC with the client's
// failover, deadline and backoff, so that Client is a
// grpc.ClientConnInterface and the generated stubs run over it:
//
//	key, err := kqpb.NewKeyServiceClient(c).RotateKey(ctx, &kqpb.KeyVersionRequest{Key: "payments", RequestId: id})
//
// A request with a request id must carry one before the call: the retries
// of this call resend args as it is, which the cluster's idempotency makes
// safe only when the id is set. Errors are *Error, as for the typed methods.
func (c *Client) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	var requestID string
	if r, ok := args.(interface{ GetRequestId() string }); ok {
		requestID = r.GetRequestId()
	}
	_, err := invoke(ctx, c, path.Base(method), requestID, func(ctx context.Context, conn *grpc.ClientConn) (struct{}, error) {
		return struct{}{}, conn.Invoke(ctx, method, args, reply, opts...)
	})
	return err
}

// NewStream opens a stream (AuditService.Export) on the endpoint the client
// prefers. A stream is not failed over: the records already received would
// be received again, so the caller, who knows where it stopped, reopens it.
func (c *Client) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	i := int(c.preferred.Load())
	s, err := c.conns[i].NewStream(ctx, desc, method, opts...)
	if err != nil {
		return nil, wrapError(path.Base(method), c.cfg.Endpoints[i], "", err, nil)
	}
	return s, nil
}

// Call runs fn, which may make several calls on conn, with the failover of
// the typed methods: when fn fails with UNAVAILABLE, Call runs it again on
// the next endpoint. op names the call in errors; requestID is the id fn's
// writes carry, "" for reads. fn must be safe to run more than once, as a
// read or a write carrying a request id is. An error fn returns that
// carries no gRPC status (fn's own) is returned as it is; every other is an
// *Error.
func (c *Client) Call(ctx context.Context, op, requestID string, fn func(ctx context.Context, conn *grpc.ClientConn) error) error {
	var own error
	_, err := invoke(ctx, c, op, requestID, func(ctx context.Context, conn *grpc.ClientConn) (struct{}, error) {
		err := fn(ctx, conn)
		own = nil
		if _, ok := status.FromError(err); !ok {
			own = err
		}
		return struct{}{}, err
	})
	if own != nil {
		return own
	}
	return err
}
