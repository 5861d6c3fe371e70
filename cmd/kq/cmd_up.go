package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyquorum/keyquorum/cmd/kq/internal/clusterstatus"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/localnodes"
	"github.com/keyquorum/keyquorum/node/pki"
)

func newUpCmd(opts *options) *cobra.Command {
	var readyWait time.Duration
	var reflection bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run every node of the configuration on this machine until Ctrl-C (development)",
		Long: "Create the development certificates if missing, start one kqd per node of the\n" +
			"configuration (from the directory kq lives in), prefix and show their logs\n" +
			"(also kept in DATA_DIR/logs/), wait until the cluster is ready, and stop all\n" +
			"nodes on Ctrl-C. Data persists in the configuration's data_dir.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := opts.loadCluster()
			if err != nil {
				return err
			}
			if err := pki.Init(c.CertsDir(), c); err != nil {
				return err
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			var extra []string
			if reflection {
				extra = append(extra, "--reflection")
			}
			procs, err := localnodes.Start(c, opts.configPath, filepath.Join(filepath.Dir(self), "kqd"), extra, opts.stderr)
			if err != nil {
				return err
			}
			defer localnodes.Stop(procs, opts.stderr)
			return upReady(cmd.Context(), opts, readyWait, procs)
		},
	}
	cmd.Flags().DurationVar(&readyWait, "ready-timeout", 2*time.Minute, "how long to wait for a leader before giving up")
	cmd.Flags().BoolVar(&reflection, "reflection", false, "start every kqd with --reflection (gRPC server reflection, for grpcurl)")
	return cmd
}

// upReady waits for the cluster, prints the tour, then waits for Ctrl-C or
// a node to exit.
func upReady(ctx context.Context, opts *options, wait time.Duration, procs []*localnodes.Proc) error {
	cc, err := opts.client()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	for v := clusterstatus.Gather(ctx, cc, time.Second); !clusterstatus.Ready(v); v = clusterstatus.Gather(ctx, cc, time.Second) {
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ready after %s: %s", wait, clusterstatus.NotReady(v))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
	cfg := opts.configPath
	fmt.Fprintf(opts.stdout, `
keyquorum is up: %d nodes. In another terminal:
  bin/kq --config %[2]s status
  bin/kq --config %[2]s key create demo --algorithm ed25519
  bin/kq --config %[2]s sign demo --digest $(printf hello | xxd -p)
  bin/kq --config %[2]s key create btc --algorithm ecdsa-secp256k1   # once PREPARAMS is ready
  bin/kq --config %[2]s sign btc --digest $(printf hello | sha256sum | cut -c1-64) -o json
Ctrl-C stops all nodes.
`, len(procs), cfg)
	anyExit := make(chan string, len(procs))
	for _, p := range procs {
		go func() { <-p.Exited(); anyExit <- p.ID() }()
	}
	select {
	case <-ctx.Done():
		return nil
	case id := <-anyExit:
		return fmt.Errorf("node %s exited; stopping the others", id)
	}
}
