package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/node/config"
)

// statusWait bounds each node's answer to `kq status`.
const statusWait = 5 * time.Second

func newStatusCmd(opts *options) *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show every node's raft state, log indexes, pre-params and key count",
		Long: "Ask every node in the configuration (or only --node) for its status, in\n" +
			"parallel. Exits 1 when no node answers.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := opts.client()
			if err != nil {
				return err
			}
			v := c.status(cmd.Context(), min(statusWait, opts.timeout))
			for wait && !v.ready() {
				select {
				case <-cmd.Context().Done():
					return status.Errorf(codes.DeadlineExceeded, "cluster not ready within --timeout: %s", v.notReady())
				case <-time.After(500 * time.Millisecond):
				}
				v = c.status(cmd.Context(), min(statusWait, opts.timeout))
			}
			if err := opts.printer().print(v); err != nil {
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
	cmd.Flags().BoolVar(&wait, "wait", false, "wait (up to --timeout) until every node answers and all agree on a leader")
	return cmd
}

// ready reports whether every node answered and names the same leader.
func (v statusView) ready() bool { return v.notReady() == "" }

// notReady says why the cluster is not ready, or "" when it is.
func (v statusView) notReady() string {
	if v.Leader == "" {
		return "no leader"
	}
	for _, n := range v.Nodes {
		if !n.Reachable {
			return n.ID + " unreachable"
		}
	}
	return ""
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

// status asks every target node in parallel, each within wait.
func (c *clusterClient) status(ctx context.Context, wait time.Duration) statusView {
	resps := make([]*kqpb.StatusResponse, len(c.targets))
	errs := make([]error, len(c.targets))
	var wg sync.WaitGroup
	for i, n := range c.targets {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, wait)
			defer cancel()
			// A client per node and per round, closed after it: a node
			// that is starting is tried afresh each round, not after a
			// reconnect backoff.
			nc, err := c.newClient([]config.NodeConfig{n}, wait)
			if err != nil {
				errs[i] = err
				return
			}
			defer nc.Close()
			resps[i], err = nc.Status(ctx)
			errs[i] = c.plain(err)
		})
	}
	wg.Wait()
	v := statusView{ClusterID: c.cluster.ID, Nodes: make([]nodeStatusView, len(c.targets))}
	for i, n := range c.targets {
		v.Nodes[i] = newNodeStatusView(n.ID, resps[i], errs[i])
	}
	v.Leader = pickLeader(resps)
	return v
}

// pickLeader names the leader: a node that says it leads (the highest term
// wins, since a deposed leader may not know yet), else the leader most
// followers report.
func pickLeader(resps []*kqpb.StatusResponse) string {
	var leader string
	var term uint64
	votes := map[string]int{}
	for _, r := range resps {
		if r == nil {
			continue
		}
		if r.GetState() == "leader" && (leader == "" || r.GetTerm() > term) {
			leader, term = r.GetNodeId(), r.GetTerm()
		}
		if id := r.GetLeaderId(); id != "" {
			votes[id]++
		}
	}
	if leader != "" {
		return leader
	}
	best := 0
	for id, n := range votes {
		if n > best || n == best && id < leader {
			leader, best = id, n
		}
	}
	return leader
}
