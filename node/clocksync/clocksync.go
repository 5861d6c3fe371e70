// Package clocksync holds a member to the quorum bound on the members'
// clocks (clock.Bound): it probes every other member's clock over the peer
// port, gives the time a leader may stamp an entry with, steps a leader
// down whose clock is the wrong one, and tells from the probes' answers
// which members are ready to join a new committee.
package clocksync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/clock"
	"github.com/keyquorum/keyquorum/node/config"
)

// Clock probing: every member reads every other member's clock over the
// peer port, so that whichever member leads knows at once whether its own
// clock agrees with a quorum's (see clock.Bound).
const (
	// ProbeEvery is how often each other member's clock is read.
	ProbeEvery        = 500 * time.Millisecond
	clockProbeTimeout = 500 * time.Millisecond
	// clockReadingAge is how long a reading counts: a few probe rounds, so
	// one lost probe does not stop the leader stamping.
	clockReadingAge = 2 * time.Second
	// stepDownEvery spaces leadership transfers for a wrong clock: the
	// transfer takes an election's time to show.
	stepDownEvery = 5 * time.Second
	// confirmWait is how long a stamp waits for readings that would
	// confirm this clock (just after start or an election, or while probes
	// are slow) before the request answers UNAVAILABLE.
	confirmWait = 2 * time.Second
)

// Node is what a Sync needs of the member it runs in.
type Node interface {
	// Voters returns the members whose clocks bound replicated time, this
	// one included, in id order.
	Voters() []config.NodeConfig
	// Conn returns a connection to a member's peer address.
	Conn(addr string) (*grpc.ClientConn, error)
	// IsLeader reports whether this member leads.
	IsLeader() bool
	// StepDown hands leadership to another member.
	StepDown() error
	// Go runs f on a goroutine the member waits for when it stops.
	Go(f func())
}

// Sync probes the members' clocks and stamps commands.
type Sync struct {
	self  string
	clock clock.Clock
	// unbounded is the unbounded-time bug: stamp with this clock alone.
	unbounded bool
	n         Node
	log       *slog.Logger
	bound     *clock.Bound

	refused                        *prometheus.CounterVec // reason: unconfirmed, offset
	stepDowns                      prometheus.Counter
	offsetDesc, peerDesc, mayStamp *prometheus.Desc

	mu           sync.Mutex
	lastStepDown time.Time
	applied      map[string]Answer    // member -> its last answer's applied index
	failing      map[string]time.Time // member -> when a probe to it first failed since its last answer
}

// Answer is a member's applied index and process life as its last clock
// answer gave them, and when this node got that answer.
type Answer struct {
	Index uint64
	Boot  string // empty from a build that does not send it
	At    time.Time
}

// fresh reports whether the answer still counts at now.
func (r Answer) fresh(now time.Time) bool { return now.Sub(r.At) <= appliedFreshFor }

// otherLife reports whether the answer of member comes from a process life
// other than the one boot says the log records for it.
func (r Answer) otherLife(member string, boot func(string) string) bool {
	return r.Boot != "" && r.Boot != boot(member)
}

// New returns the clock sync of member self, reading its clock clk and
// bounding it to maxOffset of a quorum's; unbounded is the unbounded-time
// bug (kqd_bugs builds). log may be nil only where Run and a refused stamp
// never happen (tests).
func New(self string, clk clock.Clock, maxOffset time.Duration, unbounded bool, n Node, log *slog.Logger) (*Sync, error) {
	b, err := clock.NewBound(clk, maxOffset, clockReadingAge, nil)
	if err != nil {
		return nil, err
	}
	return &Sync{self: self, clock: clk, unbounded: unbounded, n: n, log: log, bound: b, applied: map[string]Answer{}, failing: map[string]time.Time{},
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "keyquorum_clock_stamp_refused_total",
			Help: "Commands this node as leader refused to stamp because its clock was not confirmed by a quorum (unconfirmed) or disagreed with a quorum's (offset).",
		}, []string{"reason"}),
		stepDowns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "keyquorum_clock_stepdowns_total",
			Help: "Times this node gave up leadership because its clock disagreed with a quorum's by more than clock.max_offset.",
		}),
		offsetDesc: prometheus.NewDesc("keyquorum_clock_offset_seconds",
			"This node's clock minus the median of the members' clocks it read (itself included).", nil, nil),
		peerDesc: prometheus.NewDesc("keyquorum_clock_peer_offset_seconds",
			"A member's clock minus this node's, from the last fresh probe.", []string{"peer"}, nil),
		mayStamp: prometheus.NewDesc("keyquorum_clock_may_stamp",
			"1 when this node's clock agrees with a quorum's within clock.max_offset, so it may stamp entries as leader.", nil, nil),
	}, nil
}

// Now returns the time this node may stamp an entry with, or why it may
// not. Under the unbounded-time bug it is the node's own clock, unchecked.
func (c *Sync) Now() (time.Time, error) {
	if c.unbounded {
		return c.clock.Now(), nil
	}
	t, err := c.bound.Now(c.self, c.voterIDs())
	if err != nil {
		reason := "unconfirmed"
		if errors.Is(err, clock.ErrOffset) {
			reason = "offset"
			c.stepDownIfLeader(err)
		}
		c.refused.WithLabelValues(reason).Inc()
		return time.Time{}, fmt.Errorf("node: stamp time: %w", err)
	}
	return t, nil
}

// Stamp sets a stamped command's time from the bounded clock. Every
// command the leader proposes passes here (node's proposeEntry), so no
// path can stamp replicated time with an unchecked clock. While the clock
// is only unconfirmed it waits up to confirmWait for the probes to confirm
// it.
func (c *Sync) Stamp(ctx context.Context, cmd fsm.Command) error {
	s, ok := cmd.(fsm.Stamped)
	if !ok {
		return nil
	}
	t, err := c.Now()
	for wait := time.Now().Add(confirmWait); errors.Is(err, clock.ErrUnconfirmed) && time.Now().Before(wait); t, err = c.Now() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("node: stamp time: %w", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err != nil {
		return err
	}
	s.Stamp(t.UnixNano())
	return nil
}

// Run probes every other member each ProbeEvery until ctx ends, and
// steps down as leader when the readings say this clock is the wrong one.
func (c *Sync) Run(ctx context.Context) {
	tick := time.NewTicker(ProbeEvery)
	defer tick.Stop()
	warned := false
	for {
		var wg sync.WaitGroup
		for _, m := range c.n.Voters() {
			if m.ID == c.self {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, ar, err := c.probe(ctx, m.Peer)
				if err == nil {
					c.bound.Observe(m.ID, r)
				}
				c.Answered(m.ID, ar, err == nil, time.Now())
			}()
		}
		wg.Wait()
		v := c.View()
		if errors.Is(v.Err, clock.ErrOffset) {
			if !warned {
				c.log.Warn("clock disagrees with a quorum of members; this node will not stamp time", "offset", v.Offset, "max_offset", c.bound.MaxOffset(), "err", v.Err)
				warned = true
			}
			c.stepDownIfLeader(v.Err)
		} else if warned && v.Err == nil {
			c.log.Info("clock agrees with a quorum of members again", "offset", v.Offset)
			warned = false
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// probe reads one member's clock, placing the answer at the midpoint of the
// round trip on this node's monotonic clock, with the member's applied
// index and process life.
func (c *Sync) probe(ctx context.Context, addr string) (clock.Reading, Answer, error) {
	conn, err := c.n.Conn(addr)
	if err != nil {
		return clock.Reading{}, Answer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, clockProbeTimeout)
	defer cancel()
	sent := time.Now()
	resp, err := kqpb.NewPeerServiceClient(conn).Clock(ctx, &kqpb.ClockRequest{})
	if err != nil {
		return clock.Reading{}, Answer{}, err
	}
	rtt := time.Since(sent)
	return clock.Reading{Remote: time.Unix(0, resp.UnixNano), Uncertainty: rtt / 2, Taken: sent.Add(rtt / 2)},
		Answer{Index: resp.AppliedIndex, Boot: resp.Boot, At: time.Now()}, nil
}

// catchUpLag is how many entries a member's applied index may trail this
// node's before new committees leave it out: far more than a healthy
// follower trails under load, far less than a restarted member replays.
const catchUpLag = 256

// appliedFreshFor is how long a clock answer counts: two probe rounds and
// a probe's timeout, since a round waits for its slowest probe (one to a
// dead member takes the whole timeout), so a live member answering every
// round never goes stale.
const appliedFreshFor = 2*ProbeEvery + clockProbeTimeout

// Why NotReady leaves a member out of new committees.
const (
	ReadySilent   = "silent"      // no clock answer within appliedFreshFor
	ReadyBehind   = "catching up" // replaying the log
	ReadyRebooted = "restarted"   // a process life the log does not record yet
)

// NotReady names the members, of those given, that a new committee should
// leave out, with the reason: no fresh clock answer (down, paused, or
// restarted and not answering yet: unknown is not ready); a fresh answer
// more than catchUpLag entries behind applied, this node's applied index
// (replaying the log after a restart); or a fresh answer from a process
// life other than the one the log records for it (boot gives that: it
// restarted and its NodeBooted is not applied here yet, so its
// presignatures are gone and that entry will end any attempt it is in).
// self is never named.
func (c *Sync) NotReady(members []string, self string, applied uint64, boot func(string) string, now time.Time) map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]string{}
	for _, id := range members {
		r, ok := c.applied[id]
		switch {
		case id == self:
		case !ok || !r.fresh(now):
			out[id] = ReadySilent
		case r.Index+catchUpLag < applied:
			out[id] = ReadyBehind
		case r.otherLife(id, boot):
			out[id] = ReadyRebooted
		}
	}
	return out
}

// Answered records the outcome of one probe of member: its answer, or
// that it failed.
func (c *Sync) Answered(member string, r Answer, ok bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok {
		c.applied[member] = r
		delete(c.failing, member)
	} else if _, was := c.failing[member]; !was {
		c.failing[member] = now
	}
}

// SilentFor reports whether every probe of member for longer than d has
// failed. Only failed probes count: a node that could not probe (it was
// paused itself, or just started) learns nothing of the others.
func (c *Sync) SilentFor(member string, d time.Duration, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	since, ok := c.failing[member]
	return ok && now.Sub(since) > d
}

// Rebooted reports whether member's fresh clock answer comes from a process
// life other than the one boot says the log records.
func (c *Sync) Rebooted(member string, boot func(string) string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.applied[member]
	return ok && r.fresh(now) && r.otherLife(member, boot)
}

// stepDownIfLeader hands leadership to another member, at most once per
// stepDownEvery: a leader whose clock a quorum contradicts must not stamp,
// and the cluster should not wait for it.
func (c *Sync) stepDownIfLeader(cause error) {
	// Under the unbounded-time bug a leader keeps leading whatever its
	// clock says, as before the bound existed.
	if !c.n.IsLeader() || c.unbounded {
		return
	}
	c.mu.Lock()
	if time.Since(c.lastStepDown) < stepDownEvery {
		c.mu.Unlock()
		return
	}
	c.lastStepDown = time.Now()
	c.mu.Unlock()
	c.stepDowns.Inc()
	c.log.Warn("stepping down: this leader's clock disagrees with a quorum's", "err", cause)
	c.n.Go(func() {
		if err := c.n.StepDown(); err != nil {
			c.log.Warn("step down", "err", err)
		}
	})
}

// View evaluates the rule now, over the latest readings.
func (c *Sync) View() clock.View {
	return c.bound.View(c.self, c.voterIDs())
}

// voterIDs returns the ids of the members whose clocks bound time.
func (c *Sync) voterIDs() []string {
	var out []string
	for _, m := range c.n.Voters() {
		out = append(out, m.ID)
	}
	return out
}

// Describe and Collect make Sync a prometheus.Collector: the offsets
// are evaluated when scraped.
func (c *Sync) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(c, ch) }

// Collect implements prometheus.Collector.
func (c *Sync) Collect(ch chan<- prometheus.Metric) {
	v := c.View()
	ch <- prometheus.MustNewConstMetric(c.offsetDesc, prometheus.GaugeValue, v.Offset.Seconds())
	for id, off := range v.Peers {
		ch <- prometheus.MustNewConstMetric(c.peerDesc, prometheus.GaugeValue, off.Seconds(), id)
	}
	ok := 0.0
	if v.Err == nil && v.Quorum > 0 {
		ok = 1
	}
	ch <- prometheus.MustNewConstMetric(c.mayStamp, prometheus.GaugeValue, ok)
	c.refused.Collect(ch)
	c.stepDowns.Collect(ch)
}
