package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// Client calls a keyquorum cluster. It is safe for concurrent use; make one
// per process and Close it when done.
type Client struct {
	cfg   Config
	conns []*grpc.ClientConn // one per endpoint, in Config order
	// preferred is the endpoint tried first: the leader when the client
	// knows it, else the last one that answered.
	preferred atomic.Int32
}

// Dial checks cfg, opens a connection to every endpoint and waits, within
// ctx, until one of them completes the TLS handshake, so a wrong address or
// certificate fails here rather than on the first call. It then asks that
// node which member leads and prefers the endpoint of the leader, saving a
// forwarding hop. It returns an *Error matching ErrUnavailable when no
// endpoint connects.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.firstConnection(ctx); err != nil {
		c.Close()
		return nil, err
	}
	c.learnLeader(ctx, int(c.preferred.Load()))
	return c, nil
}

// New checks cfg and returns a Client without connecting: each endpoint
// connects when a call first needs it, and a call that finds no endpoint
// fails as it would after Dial. It suits a short-lived process that makes
// one call, or one that must start while the cluster is down; the client
// tries the endpoints in Config order until one answers.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	tc, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg}
	for _, e := range cfg.Endpoints {
		conn, err := grpc.NewClient(e, grpc.WithTransportCredentials(credentials.NewTLS(tc.Clone())))
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("keyquorum: endpoint %s: %w", e, err)
		}
		c.conns = append(c.conns, conn)
	}
	return c, nil
}

// Close closes every connection. Calls in flight fail with ErrCanceled.
func (c *Client) Close() error {
	var errs []error
	for _, conn := range c.conns {
		errs = append(errs, conn.Close())
	}
	return errors.Join(errs...)
}

// firstConnection waits until any endpoint is ready and prefers it.
func (c *Client) firstConnection(ctx context.Context) error {
	for _, conn := range c.conns {
		conn.Connect()
	}
	var attempts []string
	for round := 0; ; round++ {
		for i, conn := range c.conns {
			if conn.GetState() == connectivity.Ready {
				c.preferred.Store(int32(i))
				return nil
			}
		}
		if ctx.Err() != nil {
			for i, conn := range c.conns {
				attempts = append(attempts, fmt.Sprintf("%s: %s", c.cfg.Endpoints[i], conn.GetState()))
			}
			return &Error{Op: "Dial", Code: codes.Unavailable, Message: "no endpoint connected: " + ctx.Err().Error(), Attempts: attempts}
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// learnLeader asks the node at endpoint i which member leads, and prefers
// that member's endpoint when it is one of the configured ones. It is a hint
// only: every node forwards, so failing to learn costs a hop, not a call.
func (c *Client) learnLeader(ctx context.Context, i int) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	st, err := kqpb.NewOperatorServiceClient(c.conns[i]).Status(ctx, &kqpb.StatusRequest{})
	if err != nil {
		return
	}
	for _, m := range st.GetMembers() {
		if m.GetId() != st.GetLeaderId() {
			continue
		}
		for j, e := range c.cfg.Endpoints {
			if e == m.GetClientAddress() {
				c.preferred.Store(int32(j))
			}
		}
	}
}

// Status returns the view of the node the client prefers (the leader's,
// when known): its role, term, indexes and the members.
func (c *Client) Status(ctx context.Context) (*kqpb.StatusResponse, error) {
	return invoke(ctx, c, "Status", "", func(ctx context.Context, conn *grpc.ClientConn) (*kqpb.StatusResponse, error) {
		return kqpb.NewOperatorServiceClient(conn).Status(ctx, &kqpb.StatusRequest{})
	})
}

// invoke runs call against the preferred endpoint and fails over to the
// others. Only UNAVAILABLE moves on: it means the node could not be reached
// or had no leader to forward to, and every call the client makes is a read
// or carries a request id, so sending it again cannot apply it twice. Any
// other answer is the cluster's and is returned. Between rounds over all
// endpoints it backs off; the call's deadline (Config.CallTimeout, or ctx's
// if earlier) bounds the whole.
func invoke[T any](ctx context.Context, c *Client, op, requestID string, call func(context.Context, *grpc.ClientConn) (T, error)) (T, error) {
	var zero T
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	var attempts []string
	start := int(c.preferred.Load())
	backoff := c.cfg.Backoff
	for n := 0; n < c.cfg.MaxAttempts; n++ {
		i := (start + n) % len(c.conns)
		if n > 0 && i == start {
			if !sleep(ctx, backoff) {
				break
			}
			backoff = min(2*backoff, maxBackoff)
		}
		endpoint := c.cfg.Endpoints[i]
		resp, err := attempt(ctx, c, i, call)
		if err == nil {
			if n > 0 {
				c.preferred.Store(int32(i))
				c.learnLeader(ctx, i)
			}
			return resp, nil
		}
		if status.Code(err) != codes.Unavailable || ctx.Err() != nil {
			return zero, wrapError(op, endpoint, requestID, err, attempts)
		}
		attempts = append(attempts, fmt.Sprintf("%s: %s", endpoint, status.Convert(err).Message()))
	}
	if err := ctx.Err(); err != nil {
		return zero, wrapError(op, "", requestID, err, attempts)
	}
	return zero, &Error{Op: op, Code: codes.Unavailable, Message: fmt.Sprintf("no endpoint answered in %d attempts", c.cfg.MaxAttempts),
		RequestID: requestID, Attempts: attempts}
}

// attempt makes one call on endpoint i, after waiting up to ConnectTimeout
// for it to connect when it is not connected already.
func attempt[T any](ctx context.Context, c *Client, i int, call func(context.Context, *grpc.ClientConn) (T, error)) (T, error) {
	var zero T
	conn := c.conns[i]
	if !c.connected(ctx, conn) {
		return zero, status.Errorf(codes.Unavailable, "not connected within %v (%s)", c.cfg.ConnectTimeout, conn.GetState())
	}
	return call(ctx, conn)
}

// connected reports whether conn left the connecting states within
// ConnectTimeout: ready, or failed (the call then fails at once with the
// transport's reason, which is more use than a timeout).
func (c *Client) connected(ctx context.Context, conn *grpc.ClientConn) bool {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
	defer cancel()
	conn.Connect()
	for {
		s := conn.GetState()
		if s == connectivity.Ready || s == connectivity.TransientFailure {
			return true
		}
		if !conn.WaitForStateChange(ctx, s) {
			return false
		}
	}
}

// sleep waits d or until ctx ends, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// newRequestID returns a random request id. The cluster remembers ids, so
// they must not repeat across a client's lifetime: 128 random bits.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}
