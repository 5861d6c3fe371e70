package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/pki"
)

// upStopWait bounds a node's clean shutdown before kq up kills it.
const upStopWait = 10 * time.Second

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
			procs, err := startNodes(c, opts.configPath, filepath.Join(filepath.Dir(self), "kqd"), extra, opts.stderr)
			if err != nil {
				return err
			}
			defer stopNodes(procs, opts.stderr)
			return upReady(cmd.Context(), opts, readyWait, procs)
		},
	}
	cmd.Flags().DurationVar(&readyWait, "ready-timeout", 2*time.Minute, "how long to wait for a leader before giving up")
	cmd.Flags().BoolVar(&reflection, "reflection", false, "start every kqd with --reflection (gRPC server reflection, for grpcurl)")
	return cmd
}

type nodeProc struct {
	id     string
	cmd    *exec.Cmd
	exited chan struct{}
}

// startNodes starts one kqd per node, copying each one's log lines to its
// log file and, prefixed with the node id, to out.
func startNodes(c *config.Cluster, configPath, kqd string, extra []string, out io.Writer) ([]*nodeProc, error) {
	logDir := filepath.Join(c.DataDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	var mu sync.Mutex // one line at a time on out
	var procs []*nodeProc
	for _, id := range c.NodeIDs() {
		logf, err := os.OpenFile(filepath.Join(logDir, id+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			stopNodes(procs, out)
			return nil, err
		}
		cmd := exec.Command(kqd, append([]string{"--config", configPath, "--node", id}, extra...)...)
		pipe, err := cmd.StderrPipe()
		if err != nil {
			logf.Close()
			stopNodes(procs, out)
			return nil, err
		}
		cmd.Stdout = logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			stopNodes(procs, out)
			return nil, fmt.Errorf("start %s: %w (run `make build` first?)", kqd, err)
		}
		p := &nodeProc{id: id, cmd: cmd, exited: make(chan struct{})}
		go func() {
			sc := bufio.NewScanner(pipe)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				fmt.Fprintln(logf, sc.Text())
				mu.Lock()
				fmt.Fprintf(out, "[%s] %s\n", id, sc.Text())
				mu.Unlock()
			}
			err := cmd.Wait()
			logf.Close()
			mu.Lock()
			fmt.Fprintf(out, "[%s] kqd exited: %v\n", id, err)
			mu.Unlock()
			close(p.exited)
		}()
		procs = append(procs, p)
	}
	return procs, nil
}

// upReady waits for the cluster, prints the tour, then waits for Ctrl-C or
// a node to exit.
func upReady(ctx context.Context, opts *options, wait time.Duration, procs []*nodeProc) error {
	cc, err := opts.client()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	for v := clusterStatus(ctx, cc, time.Second); !ready(v); v = clusterStatus(ctx, cc, time.Second) {
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ready after %s: %s", wait, notReady(v))
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
		go func() { <-p.exited; anyExit <- p.id }()
	}
	select {
	case <-ctx.Done():
		return nil
	case id := <-anyExit:
		return fmt.Errorf("node %s exited; stopping the others", id)
	}
}

// stopNodes sends SIGTERM to every node still running and waits for it,
// killing any that outlives upStopWait.
func stopNodes(procs []*nodeProc, out io.Writer) {
	if len(procs) > 0 {
		fmt.Fprintln(out, "stopping nodes")
	}
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		select {
		case <-p.exited:
		case <-time.After(upStopWait):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
}
