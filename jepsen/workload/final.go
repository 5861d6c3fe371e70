package workload

import (
	"context"
	"sync"
	"time"

	"github.com/keyquorum/keyquorum/jepsen/client"
	"github.com/keyquorum/keyquorum/jepsen/model"
)

// Final reads the state every operation left, once the faults have been
// healed: ListKeys through every node, GetKey of every key asked for, and
// every signing request asked again with its id and digest. The answers go
// into the history like any other operation, so the linearizability check
// covers them. An unknown outcome is retried (a healed node may still be
// reconnecting to its peers) until budget runs out.
func (w *Workload) Final(ctx context.Context, leader string, budget time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	c := client.New(w.rec, w.dial)
	for _, node := range w.cfg.Nodes {
		retry(ctx, func(ctx context.Context) model.Output { return c.List(ctx, node) })
	}
	for _, k := range w.reg.allKeys() {
		retry(ctx, func(ctx context.Context) model.Output { return c.Get(ctx, leader, k.name) })
	}
	var wg sync.WaitGroup
	work := make(chan signRef)
	for i := range w.cfg.Clients {
		wg.Go(func() {
			c := client.New(w.rec, w.dial)
			node := w.cfg.Nodes[i%len(w.cfg.Nodes)]
			for s := range work {
				retry(ctx, func(ctx context.Context) model.Output { return c.Sign(ctx, node, s.key, s.digest, s.requestID) })
			}
		})
	}
	for _, s := range w.reg.allRequests() {
		work <- s
	}
	close(work)
	wg.Wait()
}

// retry repeats op while its outcome is unknown and ctx allows, each
// attempt with its own deadline.
func retry(ctx context.Context, op func(context.Context) model.Output) {
	for ctx.Err() == nil {
		actx, cancel := context.WithTimeout(ctx, 2*signTimeout)
		out := op(actx)
		cancel()
		if out.Status != model.Unknown {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}
