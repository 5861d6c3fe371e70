package node

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/clocksync"
	"github.com/keyquorum/keyquorum/node/members"
)

// supervisor runs on the leader and ends work that stalls: a signing
// attempt past its deadline moves to a new committee, or fails after the
// last attempt; a key generation or refresh past its deadline fails.
// Signing deadlines are leader-local and start when this node first sees
// the attempt as leader, so a new leader gives in-flight work a full period
// before acting; generation deadlines run from the entry's replicated time,
// since a generation (minutes) can outlast many elections.
type supervisor struct {
	n     *Node
	signs map[string]deadline // request id -> deadline of the current attempt
	// keygens ("key/vN") and refreshes ("key/vN/eE") map overdue work to
	// the earliest time the supervisor proposes its failure again.
	keygens, refreshes map[string]time.Time
	unreachable        map[string]time.Time // member -> since when the leader cannot reach it
	raising            atomic.Bool          // a RaiseProtocol is being proposed
	heldProtocol       atomic.Uint32        // the version last held for a protocol-upgrade ceremony, logged once
	settingLimits      atomic.Bool          // a SetLimits is being proposed
}

type deadline struct {
	attempt uint32
	at      time.Time
	// abandoned is set once a retry of this attempt was proposed, so the
	// next ticks, before it commits, do not propose it again.
	abandoned bool
}

func newSupervisor(n *Node) *supervisor {
	return &supervisor{n: n, signs: map[string]deadline{}, keygens: map[string]time.Time{}, refreshes: map[string]time.Time{},
		unreachable: map[string]time.Time{}}
}

func (s *supervisor) run(ctx context.Context) {
	every(ctx, 250*time.Millisecond, func() { s.tick(ctx) })
}

// tick is one round of the supervisor's checks while this node leads.
func (s *supervisor) tick(ctx context.Context) {
	if !s.n.raft.IsLeader() {
		clear(s.signs)
		clear(s.keygens)
		clear(s.refreshes)
		s.n.presigs.Forget()
		clear(s.unreachable)
		return
	}
	now := time.Now()
	s.checkSigns(ctx, now)
	s.checkKeygens(ctx, now)
	s.checkLifecycle(ctx, now)
	s.n.presigs.Refill(ctx, now)
	s.maybeRaiseProtocol(ctx)
	s.maybeSetLimits(ctx)
	s.n.membership.Check(ctx)
}

func (s *supervisor) checkSigns(ctx context.Context, now time.Time) {
	pending := s.n.fsm.PendingSigns()
	live := make(map[string]bool, len(pending))
	for _, p := range pending {
		live[p.RequestID] = true
		d, ok := s.signs[p.RequestID]
		if !ok || d.attempt != p.Attempt {
			s.signs[p.RequestID] = deadline{attempt: p.Attempt, at: now.Add(s.n.cluster.Sign.Timeout)}
			continue
		}
		if !d.abandoned && s.n.blame.RetryBlamed(ctx, p) {
			s.signs[p.RequestID] = deadline{attempt: p.Attempt, at: now.Add(s.n.cluster.Sign.Timeout), abandoned: true}
			continue
		}
		lost := ""
		if !d.abandoned {
			lost = s.lostMember(p, now)
		}
		if now.Before(d.at) && lost == "" {
			continue
		}
		s.signs[p.RequestID] = deadline{attempt: p.Attempt, at: now.Add(s.n.cluster.Sign.Timeout), abandoned: true}
		s.n.spawn(func() { s.n.retrySign(ctx, p, lost) })
	}
	for id := range s.signs {
		if !live[id] {
			delete(s.signs, id)
		}
	}
	s.trackReachable(now)
}

// unreachableGrace is how long a committee member must stay unreachable
// before its attempts are abandoned: one missed heartbeat is not an outage.
const unreachableGrace = time.Second

// trackReachable records since when each member has been unreachable.
func (s *supervisor) trackReachable(now time.Time) {
	reachable := s.n.raft.Reachable()
	for _, mm := range s.n.members.All() {
		m := mm.ID
		if slices.Contains(reachable, m) {
			delete(s.unreachable, m)
		} else if _, ok := s.unreachable[m]; !ok {
			s.unreachable[m] = now
		}
	}
}

// silentGrace is how long every clock probe of a committee member must
// fail before its attempts are abandoned: three probe rounds. A paused
// process keeps its connections open, so raft's heartbeats to it fail
// late (a leader elected after a pause of the last one took 3.3 s to
// abandon attempts with it); a probe times out within its round.
const silentGrace = 3 * clocksync.ProbeEvery

// lostMember names a member of the attempt's committee that cannot finish
// it: unreachable for unreachableGrace, silent to clock probes for
// silentGrace, or started a new process life after the attempt began (its
// session died with the old one), whether its NodeBooted entry is applied
// yet or its clock answer shows a process life the log does not record
// yet (the entry, when it comes, ends the attempt anyway). The attempt is
// then abandoned at once instead of after sign.timeout.
func (s *supervisor) lostMember(p *fsm.Sign, now time.Time) string {
	for _, m := range p.Committee {
		if since, ok := s.unreachable[m]; ok && now.Sub(since) >= unreachableGrace {
			return m + " unreachable"
		}
		if s.n.fsm.BootedAfter(m, p.SessionIndex) {
			return m + " restarted"
		}
		if c := s.n.clocks; c != nil && m != s.n.self.ID {
			if c.Rebooted(m, s.n.fsm.Boot, now) {
				return m + " restarted"
			}
			if c.SilentFor(m, silentGrace, now) {
				return m + " silent"
			}
		}
	}
	return ""
}

// checkKeygens fails key generations (of a key's first version or of a
// rotation) that outlive keygenTimeout.
func (s *supervisor) checkKeygens(ctx context.Context, now time.Time) {
	live := map[string]bool{}
	for _, k := range s.n.fsm.Keys() {
		v := k.Latest()
		if v.State != fsm.KeyGenerating {
			continue
		}
		id := fmt.Sprintf("%s/v%d", k.Name, v.Number)
		live[id] = true
		if s.overdue(s.keygens, id, v.Created, now) {
			cmd := &fsm.KeygenFailed{Key: k.Name, Version: v.Number, Node: s.n.self.ID,
				Reason: fmt.Sprintf("timed out after %s waiting for %v", keygenTimeout, members.Absent(k.Members, v.Confirmed))}
			s.n.spawn(func() { s.n.propose(ctx, cmd) })
		}
	}
	for id := range s.keygens {
		if !live[id] {
			delete(s.keygens, id)
		}
	}
}

// overdue reports whether work started at replicated time started has
// outlived keygenTimeout by the leader's bounded clock, at most once per
// proposeGap for the same id, so a failure report is not proposed on every
// tick while it commits. The deadline runs from the entry's time, not from
// when this node became leader: work that stalls across many elections
// still ends.
func (s *supervisor) overdue(proposed map[string]time.Time, id string, started int64, now time.Time) bool {
	clusterNow, err := s.n.clocks.Now()
	if err != nil || clusterNow.Before(time.Unix(0, started).Add(keygenTimeout)) {
		return false // a clock a quorum does not confirm judges nothing
	}
	if next, ok := proposed[id]; ok && now.Before(next) {
		return false
	}
	proposed[id] = now.Add(proposeGap)
	return true
}

// proposeGap spaces repeated proposals of the same supervisor report.
const proposeGap = 5 * time.Second

// retrySign moves a stalled request to a different committee, or fails it
// once its attempts are spent or too few members are reachable. lost names
// the committee member that made the supervisor give up early, if one did.
func (n *Node) retrySign(ctx context.Context, p *fsm.Sign, lost string) {
	k, ok := n.fsm.Key(p.Key)
	if !ok {
		return
	}
	var cmd fsm.Command
	why := lost
	if why == "" {
		why = "deadline"
	}
	committee, err := n.committees.Pick(k, p.Committee, uint64(p.Attempt))
	switch {
	case p.Attempt >= uint32(n.cluster.Sign.MaxAttempts):
		cmd = &fsm.SignFailed{RequestID: p.RequestID, Attempt: p.Attempt,
			Reason: fmt.Sprintf("no signature after %d attempts of %s each", p.Attempt, n.cluster.Sign.Timeout)}
	case err != nil:
		cmd = &fsm.SignFailed{RequestID: p.RequestID, Attempt: p.Attempt, Reason: err.Error()}
	default:
		reason := fmt.Sprintf("committee %v stalled", p.Committee)
		if lost != "" {
			reason = fmt.Sprintf("committee %v: %s", p.Committee, lost)
		}
		cmd = &fsm.SignRetry{RequestID: p.RequestID, Attempt: p.Attempt + 1, Committee: committee, Reason: reason}
	}
	n.log.Info("signing stalled", "request", p.RequestID, "attempt", p.Attempt, "committee", p.Committee, "why", why, "next", cmd.Type())
	n.propose(ctx, cmd)
}

// maybeSetLimits runs on the leader's supervisor tick: once the cluster
// runs a protocol that replicates the limits and none are set, the leader
// proposes its own cluster.yaml's. From then on the replicated values
// decide, and a member whose file says otherwise shows as drift.
func (s *supervisor) maybeSetLimits(ctx context.Context) {
	n := s.n
	if n.fsm.Protocol() < fsm.ProtocolV2 {
		return
	}
	if _, replicated := n.fsm.LimitsInForce(); replicated || !s.settingLimits.CompareAndSwap(false, true) {
		return
	}
	n.spawn(func() {
		defer s.settingLimits.Store(false)
		n.propose(ctx, &fsm.SetLimits{MaxHandleTTL: int64(n.cluster.Handles.MaxTTL),
			RequestRecordAge: int64(n.cluster.Lifecycle.DedupAge), Actor: fsm.ActorSupervisor})
	})
}

// committeeMember is what the committee picker needs of this node.
type committeeMember struct{ n *Node }

func (m committeeMember) Reachable() []string { return m.n.raft.Reachable() }
func (m committeeMember) Eligible(members []string, need int) []string {
	return m.n.blame.Eligible(members, need)
}
