package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/keyquorum/keyquorum/api/handle"
	"github.com/keyquorum/keyquorum/jepsen/model"
)

// The expiry clients issue handles that live a few seconds and sign with
// each at moments on both sides of its expiry, for jepsen/checker.Expiry.
// A handle's life is drawn from [expiryMinTTL, expiryMaxTTL]: long enough
// that a sign made soon after the issue is, even with the checker's
// margins (the max clock offset and a slack, on both the issue and the
// sign) and a loaded machine's latency, certainly before the expiry;
// short enough that a run of twenty seconds sees several handles through.
const (
	expiryMinTTL = 4 * time.Second
	expiryMaxTTL = 7 * time.Second
	// expiryEvery is the least time between two issues of one expiry
	// client; up to as much again is drawn.
	expiryEvery = 1500 * time.Millisecond
	// beforeMargin and afterMargin are how far from the expiry the
	// sure-before and sure-after signs aim: past the checker's default
	// window of 2 × 750 ms around it, with room for a sign's own latency
	// before it (a sign after it counts from its call).
	beforeMargin = 2500 * time.Millisecond
	afterMargin  = 2 * time.Second
	// issueAttempts bounds the attempts of one issue request under its id.
	issueAttempts = 3
)

// ExpiryClients is how many of a run's clients drive short-lived handles:
// a quarter, at least one when there are two clients or more.
func ExpiryClients(clients int) int {
	if clients < 2 {
		return 0
	}
	return max(1, clients/4)
}

// runExpiry is one expiry client: every one to three seconds it issues a
// handle of a few seconds and signs with it at planned moments, each
// handle through a recording client of its own, so that a slow answer
// for one handle does not push another's signs across its expiry. The
// requests are not retried and not asked again in the final reads: a
// retry of a request that signed returns the stored signature whatever
// the handle's state, which says nothing of expiry.
func (w *Workload) runExpiry(ctx context.Context, id int, rnd *rand.Rand) {
	var wg sync.WaitGroup
	for n := 0; ctx.Err() == nil; n++ {
		seed := rnd.Uint64()
		wg.Go(func() { w.expiring(ctx, id, n, rand.New(rand.NewPCG(seed, uint64(n)))) })
		sleep(ctx, expiryEvery+time.Duration(rnd.Int64N(int64(expiryEvery))))
	}
	wg.Wait()
}

// expiring issues one handle of a lasting key for a life drawn from rnd,
// sending an unanswered request again under its id and token, then signs
// with it at the moments signMoments plans from the acknowledgement.
func (w *Workload) expiring(ctx context.Context, id, n int, rnd *rand.Rand) {
	k, ok := w.reg.lasting(rnd)
	if !ok {
		return
	}
	tok, err := handle.New()
	if err != nil {
		return
	}
	c := w.newClient()
	steps := int64((expiryMaxTTL - expiryMinTTL) / (100 * time.Millisecond))
	ttl := expiryMinTTL + time.Duration(rnd.Int64N(steps+1))*100*time.Millisecond
	rid := fmt.Sprintf("eh-%d-%d-%d", id, n, rnd.Uint32())
	ictx, cancel := context.WithTimeout(ctx, signTimeout)
	defer cancel()
	var out model.Output
	for range issueAttempts {
		out = c.Issue(ictx, w.node(rnd), k.name, rid, tok, ttl)
		w.ops.Add(1)
		if (out.Status != model.Unknown && out.Status != model.Unreached) || ictx.Err() != nil {
			break
		}
	}
	if out.Status != model.OK {
		return
	}
	for i, at := range signMoments(rnd, w.rec.Now(), ttl) {
		sleep(ctx, time.Duration(at-w.rec.Now()))
		if ctx.Err() != nil {
			return
		}
		sctx, cancel := context.WithTimeout(ctx, signTimeout)
		c.SignWith(sctx, w.node(rnd), k.name, digest(rnd), fmt.Sprintf("e-%d-%d-%d-%d", id, n, i, rnd.Uint32()), tok, ttl)
		cancel()
		w.ops.Add(1)
	}
}

// signMoments returns the history times, from the issue's acknowledgement
// at issued, of a handle's signs: three in the first ttl - beforeMargin,
// two of them in its first half (a sign decides something only if it
// returns well before the expiry, and a loaded machine answers in
// seconds), one within half a second of the expiry (either outcome is
// right there; it shows the cluster near the edge), two between
// afterMargin and afterMargin + 3 s after it.
func signMoments(rnd *rand.Rand, issued int64, ttl time.Duration) []int64 {
	in := func(from, to time.Duration) int64 {
		return issued + int64(from) + rnd.Int64N(int64(to-from)+1)
	}
	due := []int64{
		in(0, (ttl-beforeMargin)/2),
		in(0, (ttl-beforeMargin)/2),
		in(0, ttl-beforeMargin),
		in(ttl-500*time.Millisecond, ttl+500*time.Millisecond),
		in(ttl+afterMargin, ttl+afterMargin+3*time.Second),
		in(ttl+afterMargin, ttl+afterMargin+3*time.Second),
	}
	slices.Sort(due)
	return due
}

// node draws the node an operation goes to.
func (w *Workload) node(rnd *rand.Rand) string {
	ns := w.nodes()
	return ns[rnd.IntN(len(ns))]
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
