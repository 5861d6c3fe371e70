// Package remote is how kq reaches the cluster: clients of the configured
// nodes over mutual TLS, failing over from one node to the next, and the
// errors they return turned into the messages kq prints.
package remote

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/client"
	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/node/config"
)

// connectWait bounds how long kq waits for one node to accept a connection
// before it moves on to the next, so a partitioned node does not use up the
// whole --timeout.
const connectWait = 3 * time.Second

// Client reaches the cluster's nodes over mutual TLS with the client
// certificate kq acts with, through api/client: kq is that package's
// first user.
type Client struct {
	cluster *config.Cluster
	tls     *tls.Config
	targets []config.NodeConfig // tried in this order
	pinned  bool                // --node was given: no fallback
	kc      *client.Client      // fails over across targets
}

// New returns a client of targets, tried in that order (pinned: --node
// named the one target, which has no fallback), each call within
// callTimeout. It connects on its first call; Close closes it.
func New(cluster *config.Cluster, tls *tls.Config, targets []config.NodeConfig, pinned bool, callTimeout time.Duration) (*Client, error) {
	c := &Client{cluster: cluster, tls: tls, targets: targets, pinned: pinned}
	kc, err := c.NewClient(targets, callTimeout)
	if err != nil {
		return nil, err
	}
	c.kc = kc
	return c, nil
}

// Close closes the connections of the failover client.
func (c *Client) Close() error { return c.kc.Close() }

// Cluster is the configuration the client was made from.
func (c *Client) Cluster() *config.Cluster { return c.cluster }

// Targets are the nodes the client tries, in order.
func (c *Client) Targets() []config.NodeConfig { return c.targets }

// Pinned reports whether --node named the one target.
func (c *Client) Pinned() bool { return c.pinned }

// API is the api/client Client that fails over across the targets.
func (c *Client) API() *client.Client { return c.kc }

// Stubs runs generated stubs over kc with kq's errors:
// kqpb.NewKeyServiceClient(c.Stubs(c.API())).
func (c *Client) Stubs(kc *client.Client) grpc.ClientConnInterface { return stubConn{c, kc} }

// NewClient makes an api/client Client over nodes, tried in that order,
// each once per call (kq's requests are reads, or writes carrying a request
// id, so the failover is safe), within callTimeout.
func (c *Client) NewClient(nodes []config.NodeConfig, callTimeout time.Duration) (*client.Client, error) {
	if len(nodes) == 0 {
		return nil, fmt.Errorf("%s names no nodes", c.cluster.ID)
	}
	endpoints := make([]string, len(nodes))
	for i, n := range nodes {
		endpoints[i] = n.Client
	}
	kc, err := client.New(client.Config{Endpoints: endpoints, TLS: c.tls, CallTimeout: callTimeout,
		ConnectTimeout: min(connectWait, callTimeout), MaxAttempts: len(nodes)})
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", nodes[0].ID, err)
	}
	return kc, nil
}

// Call runs fn against the first node that answers. A node that does not
// connect within connectWait, or that answers Unavailable, is skipped unless
// --node pinned it; every request kq sends is safe to repeat (reads, or
// writes carrying a request id). When no node answers, the error is
// Unavailable and lists why each node failed.
func (c *Client) Call(ctx context.Context, fn func(context.Context, *grpc.ClientConn) error) error {
	return c.Plain(c.kc.Call(ctx, "", "", fn))
}

// stubConn runs generated stubs over an api/client Client, with kq's
// errors.
type stubConn struct {
	c  *Client
	kc *client.Client
}

func (s stubConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return s.c.Plain(s.kc.Invoke(ctx, method, args, reply, opts...))
}

func (s stubConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	st, err := s.kc.NewStream(ctx, desc, method, opts...)
	return st, s.c.Plain(err)
}

// Plain turns an api/client error into the gRPC status kq prints: the
// node's own code and message; when no node answered, the one node's reason,
// or each node's by id. Other errors pass as they are.
func (c *Client) Plain(err error) error {
	var e *client.Error
	if !errors.As(err, &e) {
		return err
	}
	if e.Code != codes.Unavailable || e.Endpoint != "" || len(e.Attempts) == 0 {
		return status.Error(e.Code, e.Message)
	}
	reasons := make([]string, len(e.Attempts))
	for i, a := range e.Attempts {
		reasons[i] = a
		for _, n := range c.targets {
			if msg, ok := strings.CutPrefix(a, n.Client+": "); ok {
				if len(e.Attempts) == 1 {
					return status.Error(codes.Unavailable, msg)
				}
				reasons[i] = fmt.Sprintf("%s: %s: %s", n.ID, codes.Unavailable, msg)
				break
			}
		}
	}
	return status.Errorf(codes.Unavailable, "no node answered: %s (is the cluster up? `kq status` shows each node)", strings.Join(reasons, "; "))
}

// NodeStatus asks node n alone, within wait, on a client of its own that
// is closed after it: a node that is starting is tried afresh each round,
// not after a reconnect backoff.
func (c *Client) NodeStatus(ctx context.Context, n config.NodeConfig, wait time.Duration) (*kqpb.StatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	nc, err := c.NewClient([]config.NodeConfig{n}, wait)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	r, err := nc.Status(ctx)
	return r, c.Plain(err)
}
