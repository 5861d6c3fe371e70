package workload

import (
	"context"
	"sync"
	"time"

	"github.com/keyquorum/keyquorum/jepsen/model"
)

// unackedAttempts bounds the final attempts for a signing request that
// never got a signature: it owes no answer (its key may have lost its
// primary since, and a refusal of a lifecycle state may come back with an
// unknown outcome), and must not hold up the requests that do.
const unackedAttempts = 2

// Final reads the state every operation left, once the faults have been
// healed: ListKeys through every node, GetKey of every key asked for, and
// every signing request asked again with its id and digest, those that got
// a signature first. The answers go into the history like any other
// operation, so the linearizability check covers them. An unknown outcome
// is retried (a healed node may still be reconnecting to its peers) until
// budget runs out, or a few times for a request that never got a signature.
func (w *Workload) Final(ctx context.Context, leader string, budget time.Duration) {
	if w.cfg.Authz {
		w.finalAuthz(ctx, leader, budget)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	c := w.newClient()
	nodes := w.nodes()
	for _, node := range nodes {
		retry(ctx, 0, func(ctx context.Context) model.Output { return c.List(ctx, node) })
	}
	for _, k := range w.reg.allKeys() {
		retry(ctx, 0, func(ctx context.Context) model.Output { return c.Get(ctx, leader, k.name) })
	}
	var wg sync.WaitGroup
	work := make(chan signRef)
	for i := range w.cfg.Clients {
		wg.Go(func() {
			c := w.newClient()
			node := nodes[i%len(nodes)]
			for s := range work {
				attempts := 0
				if !s.acked {
					attempts = unackedAttempts
				}
				retry(ctx, attempts, func(ctx context.Context) model.Output {
					return c.SignVersion(ctx, node, s.key, s.version, s.digest, s.requestID)
				})
			}
		})
	}
	reqs := w.reg.allRequests()
	for _, acked := range []bool{true, false} {
		for _, s := range reqs {
			if s.acked == acked {
				work <- s
			}
		}
	}
	close(work)
	wg.Wait()
	if w.cer != nil {
		w.cer.final(ctx, leader, nodes)
	}
}

// retry repeats op while its outcome is unknown and ctx allows, each
// attempt with its own deadline; attempts > 0 bounds the tries.
func retry(ctx context.Context, attempts int, op func(context.Context) model.Output) {
	for try := 1; ctx.Err() == nil; try++ {
		actx, cancel := context.WithTimeout(ctx, 2*signTimeout)
		out := op(actx)
		cancel()
		if out.Status != model.Unknown || try == attempts {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}
