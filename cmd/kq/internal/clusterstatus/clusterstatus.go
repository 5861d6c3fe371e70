// Package clusterstatus is what kq makes of the nodes' status answers:
// every target asked at once, the leader and the members picked from
// possibly disagreeing answers, and whether the cluster is ready for work.
package clusterstatus

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/remote"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
)

// Gather asks every target node in parallel, each within wait, and names
// the leader and the members from what they answer.
func Gather(ctx context.Context, c *remote.Client, wait time.Duration) render.StatusView {
	resps := make([]*kqpb.StatusResponse, len(c.Targets()))
	errs := make([]error, len(c.Targets()))
	var wg sync.WaitGroup
	for i, n := range c.Targets() {
		wg.Go(func() { resps[i], errs[i] = c.NodeStatus(ctx, n, wait) })
	}
	wg.Wait()
	v := render.StatusView{ClusterID: c.Cluster().ID, Nodes: make([]render.NodeStatusView, len(c.Targets()))}
	for i, n := range c.Targets() {
		v.Nodes[i] = render.NewNodeStatusView(n.ID, resps[i], errs[i])
	}
	v.Leader = pickLeader(resps)
	v.Members = pickMembers(resps, v.Leader)
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

// pickMembers returns the member ids the leader reports, else those of the
// first node that answered.
func pickMembers(resps []*kqpb.StatusResponse, leader string) []string {
	var from *kqpb.StatusResponse
	for _, r := range resps {
		if r != nil && (from == nil || r.GetNodeId() == leader) {
			from = r
		}
	}
	out := []string{}
	for _, m := range from.GetMembers() {
		out = append(out, m.GetId())
	}
	return out
}

// Ready reports whether every node answered and names the same leader.
func Ready(v render.StatusView) bool { return NotReady(v) == "" }

// NotReady says why the cluster is not ready, or "" when it is.
func NotReady(v render.StatusView) string {
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

// WaitingFor is NotReady, then any node whose pre-params are not ready
// (ECDSA keys need every member's): what `kq status --wait` waits for.
func WaitingFor(v render.StatusView) string {
	if why := NotReady(v); why != "" {
		return why
	}
	for _, n := range v.Nodes {
		if n.Preparams != preParamsReady {
			return fmt.Sprintf("pre-params %s on %s", n.Preparams, n.ID)
		}
	}
	return ""
}

// preParamsReady is a node's pre-params status once they are loaded.
const preParamsReady = "ready"
