package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/pki"
)

// connectWait bounds how long kq waits for one node to accept a connection
// before it moves on to the next, so a partitioned node does not use up the
// whole --timeout.
const connectWait = 3 * time.Second

// clusterClient reaches the cluster's nodes over mutual TLS with the
// operator client certificate.
type clusterClient struct {
	cluster *config.Cluster
	tls     *tls.Config
	targets []config.NodeConfig // tried in this order
	pinned  bool                // --node was given: no fallback
}

func (o *options) loadCluster() (*config.Cluster, error) {
	c, err := config.Load(o.configPath)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (o *options) client() (*clusterClient, error) {
	c, err := o.loadCluster()
	if err != nil {
		return nil, err
	}
	cfg, err := o.clientTLS(c)
	if err != nil {
		return nil, err
	}
	cc := &clusterClient{cluster: c, tls: cfg, targets: c.Nodes}
	if o.node != "" {
		n, ok := c.Node(o.node)
		if !ok {
			return nil, usagef("--node %q is not in %s (nodes: %s)", o.node, o.configPath, strings.Join(c.NodeIDs(), ", "))
		}
		cc.targets, cc.pinned = []config.NodeConfig{n}, true
	}
	return cc, nil
}

func (c *clusterClient) dial(n config.NodeConfig) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(n.Client, grpc.WithTransportCredentials(credentials.NewTLS(c.tls.Clone())))
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.ID, err)
	}
	return conn, nil
}

// call runs fn against the first node that answers. A node that does not
// connect within connectWait, or that answers Unavailable, is skipped unless
// --node pinned it; every request kq sends is safe to repeat (reads, or
// writes carrying a request id). When no node answers, the error is
// Unavailable and lists why each node failed.
func (c *clusterClient) call(ctx context.Context, fn func(context.Context, *grpc.ClientConn) error) error {
	var failures []string
	for i, n := range c.targets {
		last := i == len(c.targets)-1
		err := c.callOne(ctx, n, !c.pinned && !last, fn)
		if err == nil {
			return nil
		}
		unavailable := status.Code(err) == codes.Unavailable
		if !unavailable || len(failures) == 0 && (c.pinned || last) {
			return err // the node answered, or it was the only one to try
		}
		failures = append(failures, fmt.Sprintf("%s: %s", n.ID, errorText(err)))
		if last || ctx.Err() != nil {
			return status.Errorf(codes.Unavailable, "no node answered: %s", strings.Join(failures, "; "))
		}
	}
	return status.Error(codes.Unavailable, "no nodes configured")
}

func (c *clusterClient) callOne(ctx context.Context, n config.NodeConfig, wait bool, fn func(context.Context, *grpc.ClientConn) error) error {
	conn, err := c.dial(n)
	if err != nil {
		return err
	}
	defer conn.Close()
	if wait && !waitConnected(ctx, conn, connectWait) {
		return status.Errorf(codes.Unavailable, "no connection to %s within %v", n.Client, connectWait)
	}
	return fn(ctx, conn)
}

// waitConnected reports whether conn left the connecting states within d:
// either ready, or failed (then the call fails fast with the reason).
func waitConnected(ctx context.Context, conn *grpc.ClientConn, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
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
