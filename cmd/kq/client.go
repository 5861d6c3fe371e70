package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"

	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/cmd/kq/internal/remote"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/pki"
)

func (o *options) loadCluster() (*config.Cluster, error) {
	c, err := config.Load(o.configPath)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// client returns a client of the configured cluster (or of --node alone).
// It connects on its first call; run closes it when the command ends.
func (o *options) client() (*remote.Client, error) {
	c, err := o.loadCluster()
	if err != nil {
		return nil, err
	}
	cfg, err := o.clientTLS(c)
	if err != nil {
		return nil, err
	}
	targets, pinned := c.Nodes, false
	if o.node != "" {
		n, ok := c.Node(o.node)
		if !ok {
			return nil, usagef("--node %q is not in %s (nodes: %s)", o.node, o.configPath, strings.Join(c.NodeIDs(), ", "))
		}
		targets, pinned = []config.NodeConfig{n}, true
	}
	cc, err := remote.New(c, cfg, targets, pinned, o.timeout)
	if err != nil {
		return nil, err
	}
	o.atExit = append(o.atExit, func() { cc.Close() })
	return cc, nil
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
	return c.Call(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
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
