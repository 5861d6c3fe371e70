package node

import (
	"fmt"
	"net/http"

	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/node/blame"
	"github.com/keyquorum/keyquorum/node/metrics"
	"github.com/keyquorum/keyquorum/node/peer"
)

// newNodeMetrics builds the node's metrics over its own state. Call it
// once the FSM, the engine, the parked store and the pre-params exist;
// raft may open later.
func (n *Node) newNodeMetrics() *metrics.Set {
	m := metrics.New(metrics.Source{
		State: n.fsm,
		Raft: func() (consensus.Stats, bool) {
			if n.raft == nil {
				return consensus.Stats{}, false
			}
			return n.raft.Stats(), true
		},
		Running:     n.engine.Running,
		Parked:      n.parked.Len,
		PreParams:   n.pre.Ready,
		PoolTarget:  n.cluster.Presign.Pool,
		Now:         n.clock.Now,
		BlameChecks: blame.Checks,
	})
	m.Register(peer.NewPendingDrops(n.engine))
	return m
}

// MetricsHandler serves this node's metrics in the Prometheus text format.
// It is what the --metrics listener serves; embedders may mount it
// elsewhere. The handler answers at any path.
func (n *Node) MetricsHandler() http.Handler {
	return n.metrics.Handler()
}

// listenMetrics serves /metrics on addr over plain HTTP (metrics.Serve).
func (n *Node) listenMetrics(addr string, cpuProfile bool) error {
	ln, err := n.listenFn(addr)
	if err != nil {
		return fmt.Errorf("node: metrics listen %s: %w", addr, err)
	}
	n.metricsSrv = metrics.Serve(ln, addr, n.MetricsHandler(), cpuProfile, n.log)
	return nil
}
