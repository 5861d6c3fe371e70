package nemesis

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// Clock skews one node's wall clock through its fault endpoint: a bump of
// plus or minus minutes, a strobe (the clock flips back and forth), or a
// rate drift. Heal resets the clock.
//
// One clock at a time, and the leader's half of the time. The cluster's
// bounded time (the leader stamps entries only while its clock agrees
// with a quorum's within the max clock offset) assumes that fewer than a
// quorum of clocks are wrong: a quorum of wrong clocks agreeing with each
// other is the truth as far as the cluster can tell. With each fault reset
// at its heal, before the next is drawn, one node out of three or five is
// never a quorum. The leader is the target that matters: a follower's
// clock stamps nothing, while a leader bumped forward and allowed to stamp
// moves replicated time ahead for good (handles expire early), and one
// bumped back freezes it (handles outlive their life), which the expiry
// check catches.
type Clock struct{}

// Name implements Failpoint.
func (Clock) Name() string { return "clock" }

// Available implements Failpoint: every node needs its fault endpoint.
func (Clock) Available(c *cluster.Cluster) bool {
	for _, id := range c.IDs() {
		if c.AdminAddr(id) == "" {
			return false
		}
	}
	return true
}

// clockFault is one clock fault as drawn from the seed, before its target
// is known: the leader, or a node by position.
type clockFault struct {
	leader bool
	node   int           // position in the cluster's ids, for a node, or the leader when there is none
	bump   time.Duration // non-zero: bump the clock by this much
	strobe time.Duration // non-zero: flip the clock by this much every 10 ms
	rate   string        // non-empty: run the clock at this rate
}

// drawClockFault draws a fault for a cluster of n nodes. The draws come
// in a fixed order, so that a seed gives the same faults whatever the run.
func drawClockFault(rnd *rand.Rand, n int) clockFault {
	f := clockFault{leader: rnd.IntN(2) == 0, node: rnd.IntN(n)}
	switch rnd.IntN(3) {
	case 0:
		f.bump = time.Duration(1+rnd.IntN(10)) * time.Minute
		if rnd.IntN(2) == 0 {
			f.bump = -f.bump
		}
	case 1:
		f.strobe = time.Duration(200+rnd.IntN(1800)) * time.Millisecond
	case 2:
		f.rate = []string{"0.5", "0.9", "1.1", "2"}[rnd.IntN(4)]
	}
	return f
}

// Inject implements Failpoint.
func (Clock) Inject(ctx context.Context, c *cluster.Cluster, rnd *rand.Rand, hold time.Duration) (Effect, error) {
	f := drawClockFault(rnd, len(c.IDs()))
	id := c.IDs()[f.node]
	who := "node " + id
	if f.leader {
		if l, err := c.Leader(ctx); err == nil {
			id, who = l, "leader "+l
		}
	}
	admin := c.AdminAddr(id)
	var path, what string
	switch {
	case f.bump != 0:
		path, what = "/clock/bump?by="+f.bump.String(), fmt.Sprintf("bump %s by %s", who, f.bump)
	case f.strobe != 0:
		path = fmt.Sprintf("/clock/strobe?delta=%s&period=10ms&for=%s", f.strobe, hold)
		what = fmt.Sprintf("strobe %s by %s every 10ms", who, f.strobe)
	default:
		path, what = "/clock/rate?rate="+f.rate, fmt.Sprintf("rate of %s ×%s", who, f.rate)
	}
	// A skewed clock takes no node down: the Effect lists nothing.
	if err := clockCall(ctx, admin, path); err != nil {
		return Effect{Target: what}, err
	}
	sleep(ctx, hold)
	return Effect{Target: what}, clockCall(context.WithoutCancel(ctx), admin, "/clock/reset")
}

// clockCall POSTs to a node's fault endpoint.
func clockCall(ctx context.Context, admin, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+admin+path, nil)
	if err != nil {
		return fmt.Errorf("nemesis: clock %s: %w", path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("nemesis: clock %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("nemesis: clock %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
