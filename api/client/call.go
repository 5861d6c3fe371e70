package client

import (
	"context"
	"path"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
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
// As with the typed methods, a request with an empty request_id is sent
// with a fresh one (args itself is not modified), which every retry of
// this call reuses, so a failover cannot apply a write twice. Errors are
// *Error, as for the typed methods.
func (c *Client) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	args, requestID := withRequestID(args)
	_, err := invoke(ctx, c, path.Base(method), requestID, func(ctx context.Context, conn *grpc.ClientConn) (struct{}, error) {
		return struct{}{}, conn.Invoke(ctx, method, args, reply, opts...)
	})
	return err
}

// withRequestID returns args and its request id: args as it is when it has
// no request_id field or the field is set, else a copy carrying a fresh id.
func withRequestID(args any) (any, string) {
	m, ok := args.(proto.Message)
	if !ok {
		return args, ""
	}
	fd := m.ProtoReflect().Descriptor().Fields().ByName("request_id")
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated {
		return args, ""
	}
	if id := m.ProtoReflect().Get(fd).String(); id != "" {
		return args, id
	}
	id := newRequestID()
	clone := proto.Clone(m)
	clone.ProtoReflect().Set(fd, protoreflect.ValueOfString(id))
	return clone, id
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
