package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/keyquorum/keyquorum/api/handle"
	"github.com/keyquorum/keyquorum/jepsen/client"
	"github.com/keyquorum/keyquorum/jepsen/model"
)

// The expiry clients issue handles that live a few seconds and sign with
// each at moments on both sides of its expiry, for jepsen/checker.Expiry.
// A handle's life is drawn from [expiryMinTTL, expiryMaxTTL]: long enough
// that a sign made soon after the issue is, even with the checker's
// margins (the max clock offset and a slack, on both the issue and the
// sign), certainly before the expiry, short enough that a run of twenty
// seconds sees several handles through.
const (
	expiryMinTTL = 3 * time.Second
	expiryMaxTTL = 6 * time.Second
	// expiryLive is how many handles one client keeps signing with at once:
	// their moments interleave, so the client is rarely idle.
	expiryLive = 3
	// expiryMargin is how far from the expiry the sure-before and
	// sure-after signs aim: past the checker's default window of
	// 2 × 750 ms, with room for a sign's own latency.
	expiryMargin = 2 * time.Second
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

// expiring is one short-lived handle and the signs still to make with it.
type expiring struct {
	key string
	tok handle.Token
	ttl time.Duration
	due []int64 // history times of the signs to make, ascending
}

// runExpiry is one expiry client: it keeps up to expiryLive short-lived
// handles, issues a new one every second or two while it holds fewer,
// and makes each handle's signs when they are due. Its requests are not
// retried and not asked again in the final reads: a retry of a request
// that signed returns the stored signature whatever the handle's state,
// which says nothing of expiry.
func (w *Workload) runExpiry(ctx context.Context, id int, rnd *rand.Rand) {
	c := w.newClient()
	var live []*expiring
	var nextIssue int64
	for n := 0; ctx.Err() == nil; n++ {
		now := w.rec.Now()
		node := w.cfg.Nodes[rnd.IntN(len(w.cfg.Nodes))]
		if len(live) < expiryLive && now >= nextIssue {
			if h := w.issueExpiring(ctx, c, node, id, n, rnd); h != nil {
				live = append(live, h)
			}
			nextIssue = w.rec.Now() + int64(time.Second) + rnd.Int64N(int64(time.Second))
			continue
		}
		next, at := -1, int64(1<<63-1)
		if len(live) < expiryLive {
			at = nextIssue
		}
		for i, h := range live {
			if h.due[0] < at {
				next, at = i, h.due[0]
			}
		}
		if at > now {
			sleep(ctx, time.Duration(at-now))
			continue
		}
		h := live[next]
		h.due = h.due[1:]
		if len(h.due) == 0 {
			live = slices.Delete(live, next, next+1)
		}
		sctx, cancel := context.WithTimeout(ctx, signTimeout)
		c.SignWith(sctx, node, h.key, digest(rnd), fmt.Sprintf("e-%d-%d-%d", id, n, rnd.Uint32()), h.tok, h.ttl)
		cancel()
		w.ops.Add(1)
	}
}

// issueExpiring issues a handle of a lasting key for a life drawn from
// the seed, sending an unanswered request again under its id and token,
// and plans its signs from the acknowledgement: two surely before the
// expiry, one near it, two surely after. It returns nil when no key can
// sign yet or the issue never got an answer.
func (w *Workload) issueExpiring(ctx context.Context, c *client.Client, node string, id, n int, rnd *rand.Rand) *expiring {
	k, ok := w.reg.lasting(rnd)
	if !ok {
		return nil
	}
	tok, err := handle.New()
	if err != nil {
		return nil
	}
	ttl := expiryMinTTL + time.Duration(rnd.Int64N(int64(expiryMaxTTL-expiryMinTTL)/int64(100*time.Millisecond)+1))*100*time.Millisecond
	rid := fmt.Sprintf("eh-%d-%d-%d", id, n, rnd.Uint32())
	ictx, cancel := context.WithTimeout(ctx, signTimeout)
	defer cancel()
	for range issueAttempts {
		out := c.Issue(ictx, node, k.name, rid, tok, ttl)
		w.ops.Add(1)
		if out.Status == model.OK {
			return &expiring{key: k.name, tok: tok, ttl: ttl, due: signMoments(rnd, w.rec.Now(), ttl)}
		}
		if (out.Status != model.Unknown && out.Status != model.Unreached) || ictx.Err() != nil {
			return nil
		}
	}
	return nil
}

// signMoments returns the history times, from the issue's acknowledgement
// at issued, of a handle's signs: two in the first ttl - expiryMargin, one
// within half a second of the expiry, two between expiryMargin and
// expiryMargin + 1.5 s after it.
func signMoments(rnd *rand.Rand, issued int64, ttl time.Duration) []int64 {
	in := func(from, to time.Duration) int64 {
		return issued + int64(from) + rnd.Int64N(int64(to-from)+1)
	}
	due := []int64{
		in(0, ttl-expiryMargin),
		in(0, ttl-expiryMargin),
		in(ttl-500*time.Millisecond, ttl+500*time.Millisecond),
		in(ttl+expiryMargin, ttl+expiryMargin+1500*time.Millisecond),
		in(ttl+expiryMargin, ttl+expiryMargin+1500*time.Millisecond),
	}
	slices.Sort(due)
	return due
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
