// Package nemesis injects faults into a running cluster: partitions over the
// harness's link proxies, clock skew through each node's fault endpoint,
// SIGKILL with restart, and SIGSTOP/SIGCONT. Each fault is a Failpoint,
// after etcd's robustness failpoints; Run applies them on a schedule drawn
// from a seed, with a health check before each injection and after each heal.
package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// ErrUnknownNemesis is returned by ByName for a name it does not know.
var ErrUnknownNemesis = errors.New("nemesis: unknown nemesis")

// Failpoint is one kind of fault.
type Failpoint interface {
	// Name is the kind, e.g. "partition".
	Name() string
	// Available reports whether the cluster was started with what the
	// failpoint needs (proxies, a fault endpoint).
	Available(c *cluster.Cluster) bool
	// Inject applies one fault chosen with rnd, holds it for hold, heals
	// it and returns what it did: a description of the target ("isolate
	// n2 (blackhole)") and the nodes and links it took away. It heals even
	// when ctx ends early.
	Inject(ctx context.Context, c *cluster.Cluster, rnd *rand.Rand, hold time.Duration) (Effect, error)
}

// Effect is what one injection did while it held: its target in words,
// and, in terms the availability measure can reason about without parsing
// the words, the nodes it stopped and the links it cut.
type Effect struct {
	Target string
	// Down are the nodes stopped (killed or paused) until the heal.
	Down []string
	// Cut are the directed links blackholed or dropped until the heal:
	// {a, b} means a cannot reach b over connections a opens. Delayed
	// links are slow, not cut, and are not listed.
	Cut [][2]string
	// Violations are guarantees the injection saw broken (a membership
	// change that made a node a voter before its shares were confirmed).
	Violations []string
}

// Fault is one injection as it happened, in history time (nanoseconds of
// the run's recorder).
type Fault struct {
	Name    string `json:"name"`
	Target  string `json:"target"`
	Start   int64  `json:"start_ns"`
	End     int64  `json:"end_ns"`
	Error   string `json:"error,omitempty"`
	Healthy bool   `json:"healthy_after"` // the cluster elected a leader after healing
	// Down and Cut are the Effect's: the nodes stopped and the directed
	// links cut from Start to End. Clock faults and slow links take
	// nothing away.
	Down []string    `json:"down,omitempty"`
	Cut  [][2]string `json:"cut,omitempty"`
	// Violations are the Effect's, for checker.Membership.
	Violations []string `json:"violations,omitempty"`
}

// ByName returns the failpoints of a --nemesis value: none, partition,
// clock, kill, pause, membership, all, or a comma-separated list of those
// kinds ("kill,pause"), each injection drawing one of them. A membership
// change runs one fault of the other kinds listed while it goes on.
func ByName(name string) ([]Failpoint, error) {
	switch name {
	case "none":
		return nil, nil
	case "all":
		name = "partition,clock,kill,pause,membership"
	}
	var fps []Failpoint
	seen := map[string]bool{}
	for part := range strings.SplitSeq(name, ",") {
		var fp Failpoint
		switch part {
		case "partition":
			fp = Partition{}
		case "clock":
			fp = Clock{}
		case "kill":
			fp = Kill{}
		case "pause":
			fp = Pause{}
		case "membership":
			fp = Membership{}
		default:
			return nil, fmt.Errorf("%w %q (none, partition, clock, kill, pause, membership, all, or a list such as kill,pause)", ErrUnknownNemesis, name)
		}
		if !seen[part] {
			seen[part] = true
			fps = append(fps, fp)
		}
	}
	for i, fp := range fps {
		if _, ok := fp.(Membership); ok {
			fps[i] = Membership{During: slices.DeleteFunc(slices.Clone(fps), func(f Failpoint) bool { return f.Name() == "membership" })}
		}
	}
	return fps, nil
}

// HasMembership reports whether fps change the membership, for which the
// cluster must start with spare nodes.
func HasMembership(fps []Failpoint) bool {
	return slices.ContainsFunc(fps, func(f Failpoint) bool { return f.Name() == "membership" })
}

// Schedule says how often and how long faults run.
type Schedule struct {
	Failpoints    []Failpoint
	Seed          uint64
	Quiet         time.Duration // minimum time between a heal and the next injection
	QuietJitter   time.Duration // up to this much more, drawn from the seed
	Hold          time.Duration // minimum time a fault stays
	HoldJitter    time.Duration
	HealthTimeout time.Duration // how long the health checks wait for a leader
	_             struct{}
}

// DefaultSchedule returns a schedule with a few seconds between faults and
// faults that last a few seconds, long enough for elections to happen.
func DefaultSchedule(fps []Failpoint, seed uint64) Schedule {
	return Schedule{Failpoints: fps, Seed: seed, Quiet: 2 * time.Second, QuietJitter: 2 * time.Second,
		Hold: 3 * time.Second, HoldJitter: 4 * time.Second, HealthTimeout: 30 * time.Second}
}

// Validate checks the durations and that every failpoint is usable on c.
func (s Schedule) Validate(c *cluster.Cluster) error {
	if s.Quiet < 0 || s.QuietJitter < 0 || s.Hold <= 0 || s.HoldJitter < 0 || s.HealthTimeout <= 0 {
		return errors.New("nemesis: schedule durations must be positive")
	}
	for _, fp := range s.Failpoints {
		if !fp.Available(c) {
			return fmt.Errorf("nemesis: %s is not available on this cluster (proxies or fault endpoint missing)", fp.Name())
		}
	}
	return nil
}

// Run injects faults until ctx ends and returns them. now gives history
// time; progress, when not nil, hears about each fault as it starts and
// ends. The choices (which failpoint, which shape, which node by position,
// how long) come from the seed alone, so a seed replays the same schedule;
// targets named by role (the leader) depend on the run.
func Run(ctx context.Context, c *cluster.Cluster, s Schedule, now func() int64, progress func(string)) []Fault {
	if progress == nil {
		progress = func(string) {}
	}
	rnd := s.stream()
	var faults []Fault
	for len(s.Failpoints) > 0 {
		quiet, fp, hold, sub := s.next(rnd)
		select {
		case <-ctx.Done():
			return faults
		case <-time.After(quiet):
		}
		if err := healthy(ctx, c, s.HealthTimeout); err != nil {
			if ctx.Err() != nil {
				return faults
			}
			progress(fmt.Sprintf("nemesis: cluster unhealthy before %s: %v", fp.Name(), err))
			continue
		}
		f := Fault{Name: fp.Name(), Start: now()}
		progress(fmt.Sprintf("nemesis: %s for %s", fp.Name(), hold.Round(time.Millisecond)))
		eff, err := fp.Inject(ctx, c, sub, hold)
		f.End, f.Target, f.Down, f.Cut, f.Violations = now(), eff.Target, eff.Down, eff.Cut, eff.Violations
		if err != nil && ctx.Err() != nil && len(f.Violations) == 0 {
			// The run ended while the fault was being injected: its
			// failure says nothing about the cluster, and the heal that
			// follows every run undoes whatever part of it took effect.
			progress(fmt.Sprintf("nemesis: run ended while injecting %s (%s)", fp.Name(), eff.Target))
			return faults
		}
		if err != nil {
			f.Error = err.Error()
		}
		f.Healthy = healthy(context.WithoutCancel(ctx), c, s.HealthTimeout) == nil
		faults = append(faults, f)
		progress(fmt.Sprintf("nemesis: healed %s: %s (healthy=%v%s)", f.Name, f.Target, f.Healthy, errSuffix(f.Error)))
	}
	<-ctx.Done()
	return faults
}

// stream is the random stream of a schedule's choices.
func (s Schedule) stream() *rand.Rand { return rand.New(rand.NewPCG(s.Seed, 0x6e656d65736973)) }

// next draws the next injection's choices: the quiet time before it, the
// failpoint, the hold, and the stream the failpoint draws its shape and
// target from. Each injection draws from its own stream, so that what one
// injection consumes does not shift the next one's choices.
func (s Schedule) next(rnd *rand.Rand) (quiet time.Duration, fp Failpoint, hold time.Duration, sub *rand.Rand) {
	quiet = s.Quiet + jitter(rnd, s.QuietJitter)
	fp = s.Failpoints[rnd.IntN(len(s.Failpoints))]
	hold = s.Hold + jitter(rnd, s.HoldJitter)
	return quiet, fp, hold, rand.New(rand.NewPCG(rnd.Uint64(), rnd.Uint64()))
}

// HealAll undoes every fault a failpoint could have left behind: links to
// pass, paused nodes resumed, killed nodes restarted, clocks reset, and
// any membership change finished.
func HealAll(ctx context.Context, c *cluster.Cluster) error {
	c.HealLinks()
	var errs []error
	for _, id := range c.IDs() {
		errs = append(errs, c.Resume(id))
		if !c.Running(id) {
			errs = append(errs, c.StartNode(id))
		}
		if c.AdminAddr(id) != "" {
			errs = append(errs, clockCall(ctx, c.AdminAddr(id), "/clock/reset"))
		}
	}
	// A membership change can outlast its nemesis's watch: see it through,
	// and retire the members it removed, so readiness is judged on the
	// members the cluster has.
	errs = append(errs, settle(ctx, c, nil))
	return errors.Join(errs...)
}

func healthy(ctx context.Context, c *cluster.Cluster, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return c.WaitReady(ctx, false)
}

func jitter(rnd *rand.Rand, max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(rnd.Int64N(int64(max)))
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

// pick returns one of ids by position.
func pick(rnd *rand.Rand, ids []string) string { return ids[rnd.IntN(len(ids))] }

// leaderOr returns the current leader, or a node drawn from rnd when there
// is none.
func leaderOr(ctx context.Context, c *cluster.Cluster, rnd *rand.Rand) (string, bool) {
	if l, err := c.Leader(ctx); err == nil {
		return l, true
	}
	return pick(rnd, c.IDs()), false
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return ", error: " + strings.TrimSpace(e)
}
