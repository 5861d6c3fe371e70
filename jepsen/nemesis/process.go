package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// Kill sends SIGKILL to a node (the leader or one drawn from the seed),
// waits for the hold, and restarts it on its data directory.
type Kill struct{}

// Name implements Failpoint.
func (Kill) Name() string { return "kill" }

// Available implements Failpoint.
func (Kill) Available(*cluster.Cluster) bool { return true }

// Inject implements Failpoint.
func (Kill) Inject(ctx context.Context, c *cluster.Cluster, rnd *rand.Rand, hold time.Duration) (Effect, error) {
	id, what := target(ctx, c, rnd)
	eff := Effect{Target: what, Down: []string{id}}
	c.Kill(id)
	sleep(ctx, hold)
	if err := c.StartNode(id); err != nil {
		return eff, fmt.Errorf("nemesis: restart %s: %w", id, err)
	}
	return eff, nil
}

// Pause stops a node with SIGSTOP for the hold, then continues it.
type Pause struct{}

// Name implements Failpoint.
func (Pause) Name() string { return "pause" }

// Available implements Failpoint.
func (Pause) Available(*cluster.Cluster) bool { return true }

// Inject implements Failpoint.
func (Pause) Inject(ctx context.Context, c *cluster.Cluster, rnd *rand.Rand, hold time.Duration) (Effect, error) {
	id, what := target(ctx, c, rnd)
	eff := Effect{Target: what, Down: []string{id}}
	if err := c.Pause(id); err != nil {
		return Effect{Target: what}, err
	}
	sleep(ctx, hold)
	return eff, c.Resume(id)
}

// target picks the leader half of the time, else a node drawn from rnd.
func target(ctx context.Context, c *cluster.Cluster, rnd *rand.Rand) (id, what string) {
	byRole := rnd.IntN(2) == 0
	node := pick(rnd, c.IDs())
	if byRole {
		if l, ok := leaderOr(ctx, c, rnd); ok {
			return l, "leader " + l
		}
	}
	return node, "node " + node
}
