package node

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

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

// listenMetrics serves /metrics on addr over plain HTTP. The endpoint has
// no authentication: it shows key names, request rates and raft state, but
// nothing secret; bind it to loopback or a monitoring network.
func (n *Node) listenMetrics(addr string, cpuProfile bool) error {
	ln, err := n.listenFn(addr)
	if err != nil {
		return fmt.Errorf("node: metrics listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", n.MetricsHandler())
	if cpuProfile {
		// The CPU profile alone: the other pprof endpoints (goroutine
		// dumps with argument words, heap) could show more than stacks.
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	}
	n.metricsSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 15 * time.Second}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			n.log.Warn("metrics endpoint is not on a loopback address; it has no authentication", "addr", ln.Addr().String())
		}
	}
	n.log.Info("metrics endpoint", "addr", ln.Addr().String())
	srv := n.metricsSrv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("metrics server stopped", "addr", addr, "err", err)
		}
	}()
	return nil
}
