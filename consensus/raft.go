package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/keyquorum/keyquorum/consensus/fsm"
)

var (
	// ErrNotLeader is returned when this member is not the leader, or is
	// handing leadership over. The command was not appended; retry on the
	// leader named by Node.Leader.
	ErrNotLeader = errors.New("consensus: not the leader")
	// ErrLeadershipLost is returned by Apply when leadership was lost after
	// the command entered the log. The outcome is unknown: the command may
	// still commit under the next leader, or be discarded. Never retry it
	// blindly and never report it as failed.
	ErrLeadershipLost = errors.New("consensus: leadership lost, outcome unknown")
	// ErrTimeout is returned when raft did not accept the command before
	// the deadline. The command was not appended.
	ErrTimeout = errors.New("consensus: timed out enqueuing command")
	// ErrShutdown is returned once the node is shutting down or shut down.
	// When Apply sees it after raft accepted the command, it arrives
	// wrapped in an unknown-outcome error (see OutcomeUnknown), because a
	// command already in the log may still commit.
	ErrShutdown = errors.New("consensus: node is shut down")
)

// unknownOutcomeError marks an Apply error after which the command may or
// may not be applied: the context ended, or the node shut down, while raft
// held the command.
type unknownOutcomeError struct{ err error }

func (e *unknownOutcomeError) Error() string {
	return "consensus: apply outcome unknown: " + e.err.Error()
}
func (e *unknownOutcomeError) Unwrap() error { return e.err }

// OutcomeUnknown reports whether an error from Apply leaves it undecided
// whether the command was applied: ErrLeadershipLost, a shutdown while
// raft held the command, or the caller's context ending after raft accepted
// it. Callers must resolve such a command by reading the replicated state
// later (after LinearizableRead), and histories must record it as
// indeterminate. Any other non-nil Apply error means it was not applied.
func OutcomeUnknown(err error) bool {
	var u *unknownOutcomeError
	return errors.Is(err, ErrLeadershipLost) || errors.As(err, &u)
}

// Node is one member of the keyquorum raft group: hashicorp/raft over a
// boltdb log, file snapshots and a mutual-TLS transport (or the Backend
// the caller supplies), driving a caller supplied raft.FSM.
//
// What we rely on from raft:
//   - An entry that Apply reports committed (nil error) is durable on a
//     quorum (boltdb fsyncs every append) and will be applied, at the same
//     index and in the same order, by every member's FSM, including members
//     that restart from Dir or catch up from a snapshot.
//   - The FSM's Apply, Snapshot and Restore are called from one goroutine;
//     Apply must be deterministic because every member replays the log.
//   - At most one leader per term, and a leader's log holds every committed
//     entry. Leadership as reported by IsLeader or WatchLeadership is only
//     a hint: a deposed leader can believe it leads for up to
//     LeaderLeaseTimeout. Anything that must be current goes through Apply
//     or LinearizableRead, which contact a quorum.
//
// How the node layer must treat ErrLeadershipLost (and any error for which
// OutcomeUnknown is true): the command may have committed. Do not report it
// as failed and do not re-propose a non-idempotent command; give commands a
// client-chosen id the FSM deduplicates, and resolve the outcome by reading
// the state after LinearizableRead succeeds on the new leader. Client
// histories must record the operation as indeterminate.
//
// All methods are safe for concurrent use. After Shutdown, Apply,
// LinearizableRead and Snapshot return ErrShutdown, IsLeader is false and
// Reachable names only this member.
type Node struct {
	cfg   Config
	raft  *raft.Raft
	store *storage
	log   *slog.Logger
	watch *watch

	obs      *raft.Observer
	notifyCh chan bool
	stop     chan struct{}
	wg       sync.WaitGroup

	shutdownOnce sync.Once
	shutdownErr  error
}

// Open starts the member described by cfg, applying committed entries to
// machine (an fsm.FSM in kqd). When Dir holds no raft state it bootstraps
// the group from cfg.Peers; every member doing so with the identical list
// is safe, as raft documents, because they all write the same
// configuration at index 1. When Dir holds state, raft restores the latest
// snapshot into machine and replays the log after it as entries are known
// committed.
//
// Open returns once raft is running; it does not wait for an election or
// the network, so ctx is only checked on entry. A Dir already opened by
// another live Node or process makes Open fail after about a second.
func Open(ctx context.Context, cfg Config, machine raft.FSM) (*Node, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("consensus: open: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if machine == nil {
		return nil, errors.New("consensus: open: nil FSM")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("node", cfg.NodeID)
	hlog := newHCLogBridge(logger)

	st, err := openStorage(cfg, hlog)
	if err != nil {
		return nil, err
	}
	trans := st.Transport
	closeAll := func() {
		if c, ok := trans.(raft.WithClose); ok {
			_ = c.Close()
		}
		_ = st.close()
	}

	n := &Node{
		cfg:      cfg,
		store:    st,
		log:      logger,
		watch:    newWatch(cfg.NodeID),
		notifyCh: make(chan bool, 1),
		stop:     make(chan struct{}),
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.CommitTimeout = cfg.CommitTimeout
	rc.SnapshotThreshold = cfg.SnapshotThreshold
	rc.SnapshotInterval = cfg.SnapshotInterval
	rc.TrailingLogs = cfg.TrailingLogs
	rc.NotifyCh = n.notifyCh
	rc.Logger = hlog
	// Concurrent Apply calls share one log append and one fsync: the
	// leader drains up to MaxAppendEntries queued commands per batch.
	rc.BatchApplyCh = true
	if err := raft.ValidateConfig(rc); err != nil {
		closeAll()
		return nil, fmt.Errorf("consensus: raft config: %w", err)
	}

	existing, err := raft.HasExistingState(st.Logs, st.Stable, st.Snapshots)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("consensus: inspect state: %w", err)
	}
	if !existing && cfg.Join {
		logger.Info("joining: waiting for the leader to add this member")
	}
	if !existing && !cfg.Join {
		var servers []raft.Server
		for _, p := range cfg.Peers {
			servers = append(servers, raft.Server{
				Suffrage: raft.Voter,
				ID:       raft.ServerID(p.ID),
				Address:  raft.ServerAddress(p.RaftAddr),
			})
		}
		if err := raft.BootstrapCluster(rc, st.Logs, st.Stable, st.Snapshots, trans, raft.Configuration{Servers: servers}); err != nil {
			closeAll()
			return nil, fmt.Errorf("consensus: bootstrap: %w", err)
		}
		logger.Info("bootstrapped raft group", "members", len(servers))
	}

	// Raft reads every entry back from the log store after writing it: the
	// leader to send it, each member to apply it. The cache serves those
	// reads from memory; writes still go to the store first and are
	// fsynced before they are cached, so it changes nothing on disk.
	logs, err := raft.NewLogCache(logCacheEntries, st.Logs)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("consensus: log cache: %w", err)
	}
	r, err := raft.NewRaft(rc, machine, logs, st.Stable, st.Snapshots, trans)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("consensus: start raft: %w", err)
	}
	n.raft = r

	obsCh := make(chan raft.Observation, observerBuffer)
	n.obs = raft.NewObserver(obsCh, false, isObserved)
	r.RegisterObserver(n.obs)
	n.wg.Add(2)
	go n.consumeObservations(obsCh)
	go n.consumeLeadership()
	return n, nil
}

func (n *Node) consumeObservations(ch <-chan raft.Observation) {
	defer n.wg.Done()
	var dropped uint64
	for {
		select {
		case o := <-ch:
			n.watch.observe(o)
			if d := n.obs.GetNumDropped(); d != dropped {
				dropped = d
				// A lost Resumed event would hide a healthy member until the
				// next election. Forget all failures instead: a member that is
				// still failing is marked again on its next heartbeat attempt,
				// within HeartbeatTimeout/2.
				n.watch.forgetFailures()
				n.log.Warn("raft observations dropped; reachability reset", "dropped", d)
			}
		case <-n.stop:
			return
		}
	}
}

func (n *Node) consumeLeadership() {
	defer n.wg.Done()
	for {
		select {
		case v := <-n.notifyCh:
			n.log.Info("leadership changed", "leader", v)
			n.watch.setLeading(v)
		case <-n.stop:
			return
		}
	}
}

// deadline is how long an operation may wait for raft: the configured
// ApplyTimeout or the time left on ctx, whichever is shorter.
func (n *Node) deadline(ctx context.Context) time.Duration {
	d := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, time.Until(dl))
	}
	return d
}

// wait blocks until f resolves or ctx ends. The goroutine it starts always
// ends: raft resolves every future, at the latest when it shuts down.
func wait(ctx context.Context, f raft.Future) (finished bool, err error) {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return true, err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// Apply proposes cmd and waits until this member's FSM has applied it. It
// returns the FSM's response (which may itself be an error value: that is
// the FSM rejecting the command, not a raft failure) and the log index.
//
// Errors: ErrNotLeader and ErrTimeout mean cmd was not appended. For
// ErrLeadershipLost, ErrShutdown, and ctx ending after raft accepted cmd,
// the outcome is unknown; OutcomeUnknown reports this. ctx bounds both the
// hand-off to raft and the wait for commit; raft cannot withdraw an entry,
// so a cancelled Apply may still commit.
func (n *Node) Apply(ctx context.Context, cmd []byte) (result any, index uint64, err error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, fmt.Errorf("consensus: apply: %w", err)
	}
	switch n.raft.State() {
	case raft.Leader:
	case raft.Shutdown:
		return nil, 0, fmt.Errorf("consensus: apply: %w", ErrShutdown)
	default:
		return nil, 0, fmt.Errorf("consensus: apply: %w", ErrNotLeader)
	}
	timeout := n.deadline(ctx)
	if timeout <= 0 {
		return nil, 0, fmt.Errorf("consensus: apply: %w", context.DeadlineExceeded)
	}
	f := n.raft.Apply(cmd, timeout)
	finished, err := wait(ctx, f)
	if !finished {
		return nil, 0, &unknownOutcomeError{err: err}
	}
	switch {
	case err == nil:
		return f.Response(), f.Index(), nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return nil, 0, fmt.Errorf("consensus: apply: %w", ErrNotLeader)
	case errors.Is(err, raft.ErrLeadershipLost):
		return nil, 0, fmt.Errorf("consensus: apply: %w", ErrLeadershipLost)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return nil, 0, fmt.Errorf("consensus: apply: %w", ErrTimeout)
	case errors.Is(err, raft.ErrRaftShutdown):
		return nil, 0, &unknownOutcomeError{err: ErrShutdown}
	default:
		// Any other failure (e.g. the log store failing to persist)
		// happens after the entry left our hands; treat it as unknown.
		return nil, 0, &unknownOutcomeError{err: fmt.Errorf("raft: %w", err)}
	}
}

// logCacheEntries is how many of the newest log entries raft keeps in
// memory beside the store: enough for the entries in flight to the
// followers and not yet applied, a few MiB at most.
const logCacheEntries = 512

// Nudge makes the leader send the followers its commit index now instead
// of on raft's next CommitTimeout tick: it appends a barrier, and the
// append carries the commit index with it. The node calls it after a
// command that committee members on followers must act on. It returns at
// once; the barrier's outcome does not matter.
func (n *Node) Nudge() {
	if n.raft.State() == raft.Leader {
		go n.raft.Barrier(0)
	}
}

// StepDown hands leadership to the most up-to-date follower and returns
// once the transfer ended (successfully or not). ErrNotLeader when this
// member does not lead.
func (n *Node) StepDown() error {
	if n.raft.State() != raft.Leader {
		return fmt.Errorf("consensus: step down: %w", ErrNotLeader)
	}
	if err := n.raft.LeadershipTransfer().Error(); err != nil {
		return fmt.Errorf("consensus: step down: %w", err)
	}
	return nil
}

// Term returns the current term: with Index it lets the leader name an
// entry unambiguously to a follower (raft's log matching: one index and
// term, one entry).
func (n *Node) Term() uint64 { return n.raft.CurrentTerm() }

// ErrEntryMismatch is returned by LeaderCommitted when this member cannot
// confirm the leader's claim.
var ErrEntryMismatch = errors.New("consensus: entry not confirmed")

// LeaderCommitted returns the command of the entry at index when leader,
// the member this node follows in the current term, says that entry (of
// that term) is committed. It lets a committee member start work the
// moment the leader has applied an entry instead of when raft next carries
// the commit index over (the next append or CommitTimeout tick): only the
// leader of a term knows its commit index, and the entry itself is read
// from this member's own log, never taken from the message. The FSM
// applies the entry later as always.
//
// An entry can commit on the leader and the other followers before it
// reaches this one: LeaderCommitted waits for it until ctx ends.
//
// Errors: ErrEntryMismatch when leader is not this member's leader in
// term, or the entry at index is of another term or has not arrived.
func (n *Node) LeaderCommitted(ctx context.Context, leader string, index, term uint64) (fsm.Command, error) {
	if _, id := n.raft.LeaderWithID(); string(id) != leader || leader == "" || n.raft.CurrentTerm() != term {
		return nil, fmt.Errorf("%w: %q is not the leader of term %d here", ErrEntryMismatch, leader, term)
	}
	var l raft.Log
	for {
		err := n.store.Logs.GetLog(index, &l)
		if err == nil {
			break
		}
		if !errors.Is(err, raft.ErrLogNotFound) {
			return nil, fmt.Errorf("%w: entry %d: %v", ErrEntryMismatch, index, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: entry %d has not arrived", ErrEntryMismatch, index)
		case <-time.After(entryPoll):
		}
	}
	if l.Term != term || l.Type != raft.LogCommand {
		return nil, fmt.Errorf("%w: entry %d is of term %d", ErrEntryMismatch, index, l.Term)
	}
	return fsm.Decode(l.Data)
}

// entryPoll is how often LeaderCommitted looks for an entry still on its
// way: an append takes a network hop and a disk sync.
const entryPoll = 200 * time.Microsecond

// LinearizableRead returns nil once this member has confirmed with a quorum
// that it is still the leader and its FSM has applied every entry committed
// before the call. State read from the FSM after it returns reflects every
// write that completed before the call started. It never relies on a
// leadership lease or on clocks.
//
// Errors: ErrNotLeader (including leadership lost during the check; a read
// has no side effect, so just retry on the leader), ErrTimeout, ErrShutdown,
// or the ctx error.
func (n *Node) LinearizableRead(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("consensus: read: %w", err)
	}
	switch n.raft.State() {
	case raft.Leader:
	case raft.Shutdown:
		return fmt.Errorf("consensus: read: %w", ErrShutdown)
	default:
		return fmt.Errorf("consensus: read: %w", ErrNotLeader)
	}
	finished, err := wait(ctx, n.raft.VerifyLeader())
	if finished && err == nil {
		timeout := n.deadline(ctx)
		if timeout <= 0 {
			return fmt.Errorf("consensus: read: %w", context.DeadlineExceeded)
		}
		// The barrier commits an entry in this term and waits until the FSM
		// has applied it, so everything committed before it is applied too.
		finished, err = wait(ctx, n.raft.Barrier(timeout))
	}
	if !finished {
		return fmt.Errorf("consensus: read: %w", err)
	}
	return readError(err)
}

func readError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("consensus: read: %w", ErrNotLeader)
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("consensus: read: %w", ErrTimeout)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("consensus: read: %w", ErrShutdown)
	default:
		return fmt.Errorf("consensus: read: %w", err)
	}
}

// Leader returns the id and raft address of the leader this member last
// heard from, or empty strings if it knows none. It is a routing hint, not
// proof of leadership.
func (n *Node) Leader() (id, raftAddr string) {
	addr, sid := n.raft.LeaderWithID()
	return string(sid), string(addr)
}

// IsLeader reports whether this member currently believes it is the leader.
// A hint only; see LinearizableRead for a checked answer.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// WatchLeadership returns a channel that first carries this member's
// current leadership (true: leader) and then each change. A slow reader
// misses intermediate values but always receives the latest one. The
// channel is closed when ctx ends or the node shuts down.
func (n *Node) WatchLeadership(ctx context.Context) <-chan bool { return n.watch.subscribe(ctx) }

// Reachable returns the sorted ids of members this member can currently
// reach. On the leader that is itself plus every member whose heartbeats
// are not failing; a member drops out on its first failed heartbeat (a
// refused connection is seen within a heartbeat interval, a hung one after
// RPCTimeout) and returns on its first successful one. Just after winning
// an election, every member is presumed reachable until its first
// heartbeat fails. On a follower or candidate only the member itself is
// known reachable, so the result is just its own id.
func (n *Node) Reachable() []string {
	if n.raft.State() != raft.Leader {
		return []string{n.cfg.NodeID}
	}
	return n.watch.reachable(n.members())
}

func (n *Node) members() []string {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil
	}
	var ids []string
	for _, s := range f.Configuration().Servers {
		ids = append(ids, string(s.ID))
	}
	slices.Sort(ids)
	return ids
}

// Stats is a point-in-time view of one member, for status endpoints and
// tests. Fields are read separately and may be mutually inconsistent by a
// few entries.
type Stats struct {
	State        string // Follower, Candidate, Leader or Shutdown
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64 // last index applied to the FSM
	LastIndex    uint64 // last index in the log or snapshot
	LeaderID     string
	Members      []string // sorted ids in the latest configuration
}

// Stats returns this member's raft counters.
func (n *Node) Stats() Stats {
	leader, _ := n.Leader()
	return Stats{
		State:        n.raft.State().String(),
		Term:         n.raft.CurrentTerm(),
		CommitIndex:  n.raft.CommitIndex(),
		AppliedIndex: n.raft.AppliedIndex(),
		LastIndex:    n.raft.LastIndex(),
		LeaderID:     leader,
		Members:      n.members(),
	}
}

// Snapshot makes raft snapshot the FSM now and compact the log. It returns
// nil when there is nothing new to snapshot.
func (n *Node) Snapshot() error {
	err := n.raft.Snapshot().Error()
	switch {
	case err == nil, errors.Is(err, raft.ErrNothingNewToSnapshot):
		return nil
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("consensus: snapshot: %w", ErrShutdown)
	default:
		return fmt.Errorf("consensus: snapshot: %w", err)
	}
}

// Shutdown stops raft, waits for its goroutines and the FSM to go idle,
// closes the transport and the log store. It does not transfer leadership.
// Later calls return the first call's result.
func (n *Node) Shutdown() error {
	n.shutdownOnce.Do(func() {
		err := n.raft.Shutdown().Error()
		close(n.stop)
		n.wg.Wait()
		n.raft.DeregisterObserver(n.obs)
		n.watch.close()
		if cerr := n.store.close(); cerr != nil {
			err = errors.Join(err, cerr)
		}
		if err != nil {
			n.shutdownErr = fmt.Errorf("consensus: shutdown: %w", err)
		}
	})
	return n.shutdownErr
}
