package main

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
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/pki"
)

// connectWait bounds how long kq waits for one node to accept a connection
// before it moves on to the next, so a partitioned node does not use up the
// whole --timeout.
const connectWait = 3 * time.Second

// clusterClient reaches the cluster's nodes over mutual TLS with the
// operator client certificate, through api/client: kq is that package's
// first user.
type clusterClient struct {
	cluster *config.Cluster
	tls     *tls.Config
	targets []config.NodeConfig // tried in this order
	pinned  bool                // --node was given: no fallback
	timeout time.Duration
	kc      *client.Client // fails over across targets
}

func (o *options) loadCluster() (*config.Cluster, error) {
	c, err := config.Load(o.configPath)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// client returns a client of the configured cluster (or of --node alone).
// It connects on its first call; run closes it when the command ends.
func (o *options) client() (*clusterClient, error) {
	c, err := o.loadCluster()
	if err != nil {
		return nil, err
	}
	cfg, err := o.clientTLS(c)
	if err != nil {
		return nil, err
	}
	cc := &clusterClient{cluster: c, tls: cfg, targets: c.Nodes, timeout: o.timeout}
	if o.node != "" {
		n, ok := c.Node(o.node)
		if !ok {
			return nil, usagef("--node %q is not in %s (nodes: %s)", o.node, o.configPath, strings.Join(c.NodeIDs(), ", "))
		}
		cc.targets, cc.pinned = []config.NodeConfig{n}, true
	}
	if cc.kc, err = cc.newClient(cc.targets, o.timeout); err != nil {
		return nil, err
	}
	o.atExit = append(o.atExit, func() { cc.kc.Close() })
	return cc, nil
}

// newClient makes an api/client Client over nodes, tried in that order,
// each once per call (kq's requests are reads, or writes carrying a request
// id, so the failover is safe), within callTimeout.
func (c *clusterClient) newClient(nodes []config.NodeConfig, callTimeout time.Duration) (*client.Client, error) {
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

// call runs fn against the first node that answers. A node that does not
// connect within connectWait, or that answers Unavailable, is skipped unless
// --node pinned it; every request kq sends is safe to repeat (reads, or
// writes carrying a request id). When no node answers, the error is
// Unavailable and lists why each node failed.
func (c *clusterClient) call(ctx context.Context, fn func(context.Context, *grpc.ClientConn) error) error {
	return c.plain(c.kc.Call(ctx, "", "", fn))
}

// serviceCall runs fn with a client of one gRPC service (newClient is its
// generated constructor) on the first node that answers, all of it within
// --timeout.
func serviceCall[C any](ctx context.Context, o *options, newClient func(grpc.ClientConnInterface) C, fn func(context.Context, C) error) error {
	c, err := o.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return c.call(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
		return fn(ctx, newClient(conn))
	})
}

// answer runs one call on a service, as serviceCall, and returns its answer.
func answer[C, R any](ctx context.Context, o *options, newClient func(grpc.ClientConnInterface) C, call func(context.Context, C) (R, error)) (R, error) {
	var r R
	err := serviceCall(ctx, o, newClient, func(ctx context.Context, c C) (err error) {
		r, err = call(ctx, c)
		return err
	})
	return r, err
}

// stubConn runs generated stubs over an api/client Client, with kq's
// errors: kqpb.NewKeyServiceClient(stubConn{c, c.kc}).
type stubConn struct {
	c  *clusterClient
	kc *client.Client
}

func (s stubConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return s.c.plain(s.kc.Invoke(ctx, method, args, reply, opts...))
}

func (s stubConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	st, err := s.kc.NewStream(ctx, desc, method, opts...)
	return st, s.c.plain(err)
}

// plain turns an api/client error into the gRPC status kq prints: the
// node's own code and message; when no node answered, the one node's reason,
// or each node's by id. Other errors pass as they are.
func (c *clusterClient) plain(err error) error {
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

// clientTLS loads the identity kq acts as: --cert and --key, or the
// principal --as names (admin by default) from DATA_DIR/certs.
func (o *options) clientTLS(c *config.Cluster) (*tls.Config, error) {
	certFile, keyFile := o.cert, o.key
	if certFile == "" {
		as := o.as
		if as == "" {
			as = pki.Admin
		}
		if !pki.ValidPrincipal(as) {
			return nil, usagef("--as %q is not a principal name", as)
		}
		certFile, keyFile = pki.PrincipalFiles(c.CertsDir(), as)
	}
	cfg, err := pki.ClientTLSFiles(c.CertsDir(), certFile, keyFile)
	if err != nil {
		hint := "run 'kq certs init' first?"
		if o.as != "" && o.as != pki.Admin {
			hint = "issue it with 'kq certs issue --principal " + o.as + "'?"
		}
		return nil, fmt.Errorf("%w (%s)", err, hint)
	}
	return cfg, nil
}
