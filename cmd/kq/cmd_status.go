package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/cmd/kq/internal/clusterstatus"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/remote"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
)

// statusWait bounds each node's answer to `kq status`.
const statusWait = 5 * time.Second

func newStatusCmd(opts *options) *cobra.Command {
	var wait, watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "status [--wait | --watch]",
		Short: "Show every node's raft state, log indexes, pre-params and key count",
		Long: "Ask every node in the configuration (or only --node) for its status, in\n" +
			"parallel. Exits 1 when no node answers.\n" +
			"--wait waits (up to --timeout) until every node answers, all agree on a\n" +
			"leader and every node's pre-params are ready, showing what it waits for\n" +
			"on stderr. --watch asks again every --interval until Ctrl-C, redrawing\n" +
			"the table in a terminal (with -o json: one document per round).",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if wait && watch {
				return usagef("give --wait or --watch, not both")
			}
			if interval < 100*time.Millisecond {
				return usagef("--interval %v: want at least 100ms", interval)
			}
			c, err := opts.client()
			if err != nil {
				return err
			}
			each := min(statusWait, opts.timeout)
			if watch {
				return watchStatus(cmd.Context(), opts, c, each, interval)
			}
			v := clusterstatus.Gather(cmd.Context(), c, each)
			if wait {
				ctx, cancel := context.WithTimeout(cmd.Context(), opts.timeout)
				defer cancel()
				if v, err = waitStatus(ctx, opts, c, v, each); err != nil {
					return err
				}
			}
			if err := opts.printer().Print(v); err != nil {
				return err
			}
			for _, n := range v.Nodes {
				if n.Reachable {
					return nil
				}
			}
			return status.Error(codes.Unavailable, "no node answered")
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "wait (up to --timeout) until every node answers, all agree on a leader and all pre-params are ready")
	cmd.Flags().BoolVar(&watch, "watch", false, "refresh every --interval until Ctrl-C")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "time between refreshes of --watch")
	return cmd
}

// waitStatus asks again every half second until the cluster is ready for
// work (waitingFor says nothing) or ctx ends. On stderr it shows what it
// waits for: redrawn in place in a terminal, else a line when that changes
// and every 10 s.
func waitStatus(ctx context.Context, opts *options, c *remote.Client, v render.StatusView, each time.Duration) (render.StatusView, error) {
	start := time.Now()
	var last string
	var lastAt time.Time
	defer func() {
		if opts.stderrTTY && last != "" {
			fmt.Fprint(opts.stderr, "\r\033[K")
		}
	}()
	for {
		why := clusterstatus.WaitingFor(v)
		if why == "" {
			return v, nil
		}
		el := time.Since(start).Truncate(time.Second)
		switch {
		case opts.stderrTTY:
			fmt.Fprintf(opts.stderr, "\r\033[Kwaiting %s: %s", el, why)
		case kindOf(why) != kindOf(last) || time.Since(lastAt) >= 10*time.Second:
			fmt.Fprintf(opts.stderr, "kq: waiting %s: %s\n", el, why)
			lastAt = time.Now()
		}
		last = why
		select {
		case <-ctx.Done():
			return v, status.Errorf(codes.DeadlineExceeded, "cluster not ready within --timeout: %s", why)
		case <-time.After(500 * time.Millisecond):
		}
		v = clusterstatus.Gather(ctx, c, each)
	}
}

// kindOf is why without the digits, so elapsed times in it do not count
// as a change.
func kindOf(why string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return -1
		}
		return r
	}, why)
}

// watchStatus prints the status every interval until ctx ends (Ctrl-C),
// which is a success. In a terminal the table is redrawn from the top of
// the screen; otherwise each round follows the last, tables under a line
// with the time, JSON as one document per round.
func watchStatus(ctx context.Context, opts *options, c *remote.Client, each, interval time.Duration) error {
	for {
		v := clusterstatus.Gather(ctx, c, each)
		if ctx.Err() != nil {
			return nil
		}
		if opts.output == render.FormatTable {
			if opts.stdoutTTY {
				fmt.Fprint(opts.stdout, "\033[H\033[2J")
			}
			fmt.Fprintf(opts.stdout, "every %s, %s (Ctrl-C stops)\n", interval, time.Now().UTC().Format(time.TimeOnly))
		}
		if err := opts.printer().Print(v); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// newNodesCmd lists the configured node ids, one a line, for scripts.
func newNodesCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "nodes",
		Short: "List the node ids in the configuration, one a line",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := opts.loadCluster()
			if err != nil {
				return err
			}
			for _, id := range c.NodeIDs() {
				fmt.Fprintln(opts.stdout, id)
			}
			return nil
		},
	}
}
