package fsm

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/state"
)

// Crypto is what the FSM needs to know about algorithms. Implementations
// must be deterministic: every replica calls them on the same entries and
// must reach the same verdict.
type Crypto interface {
	// KnownAlgorithm reports whether keys of this algorithm can be created.
	KnownAlgorithm(algorithm string) bool
	// CheckMessage returns an error if message cannot be signed by the algorithm.
	CheckMessage(algorithm string, message []byte) error
	// Verify reports whether signature is valid for message under publicKey.
	Verify(algorithm string, publicKey, message, signature []byte) bool
}

// Observer learns of every applied entry. Applied runs inside raft's apply
// loop: it must return quickly and never block on the network or a lock
// held across slow work.
type Observer interface {
	Applied(index uint64, cmd Command, res Result)
}

// FSMConfig bounds the replicated tables. Start from DefaultFSMConfig.
type FSMConfig struct {
	MaxKeys         int // keys of any state
	MaxPendingSigns int // signing requests not yet completed or failed
	MaxSignRecords  int // finished requests kept for de-duplication, oldest evicted first
	// MaxPresigsPerKey bounds pending and ready presignatures of one key.
	MaxPresigsPerKey int
	// MaxRequestRecords bounds the remembered lifecycle requests; they and
	// finished sign records are also forgotten after RequestRecordAge of
	// replicated time. A retry after either bound is a new request.
	MaxRequestRecords int
	RequestRecordAge  time.Duration
	// MaxHandles bounds live handles; MaxHandleTTL caps a handle's life.
	MaxHandles   int
	MaxHandleTTL time.Duration
	// MinDestroyDelay is the shortest pending period before a version's
	// shares are destroyed.
	MinDestroyDelay time.Duration
	// BlameExclusion is how long accusations count and how long a member
	// accused by threshold+1 distinct members stays out of committees
	// (blame.go). Every replica must use the same value.
	BlameExclusion time.Duration
	// ClusterID is the cluster's id, bound into every ceremony digest so
	// an approval for another cluster cannot apply here.
	ClusterID string
	// CeremonyUndercount is a deliberate bug (kqd_bugs builds only; in
	// any other build it does nothing): a ceremony executes one approval
	// short of its quorum.
	CeremonyUndercount bool
	// AuthzSkip is a deliberate bug (kqd_bugs builds only; in any other
	// build it does nothing): a sign request is not refused for its
	// principal's missing signer role, so any principal with some role on
	// the key's tenant and a valid handle gets a signature. The deny-list,
	// the tenant and the handle are still checked.
	AuthzSkip bool
	_         struct{}
}

// DefaultFSMConfig returns the limits used by kqd.
func DefaultFSMConfig() FSMConfig {
	return FSMConfig{MaxKeys: 10_000, MaxPendingSigns: 1024, MaxSignRecords: 100_000, MaxPresigsPerKey: 64,
		MaxRequestRecords: 100_000, RequestRecordAge: 24 * time.Hour, MaxHandles: 100_000, MaxHandleTTL: 24 * time.Hour,
		MinDestroyDelay: time.Second, BlameExclusion: 10 * time.Minute}
}

// Validate reports a limit that is out of range.
func (c FSMConfig) Validate() error {
	if c.MaxKeys < 1 || c.MaxPendingSigns < 1 || c.MaxSignRecords < 1 || c.MaxPresigsPerKey < 0 ||
		c.MaxRequestRecords < 1 || c.RequestRecordAge <= 0 || c.MaxHandles < 1 || c.MaxHandleTTL <= 0 || c.MinDestroyDelay < 0 || c.BlameExclusion <= 0 {
		return fmt.Errorf("consensus: FSM limits must be positive: %+v", c)
	}
	return nil
}

// Result is the outcome of applying one command; raft hands it back to the
// proposer. Err is nil on success.
type Result struct {
	Err     error
	Key     *Key
	Sign    *Sign
	Presig  *Presig
	Handle  *Handle
	Version uint32 // the key version a key change or report concerned
	// Ended lists signing requests this entry ended besides its own (a
	// revocation fails the version's pending requests).
	Ended     []string
	Duplicate bool // the request id was seen before; the fields hold the stored outcome
	// Note says what a settings entry changed, for its audit record.
	Note string
	// Ceremony is the ceremony a ceremony entry concerned, as it left it.
	Ceremony *ceremony.Ceremony
}

// FSM is keyquorum's replicated state machine. It is deterministic: times
// come from the command, stamped by the leader, and nothing slow (threshold
// protocol rounds, TPM calls, network) runs inside Apply. The node reacts to
// applied entries through the Observer and proposes the outcome back.
type FSM struct {
	cfg    FSMConfig
	crypto Crypto

	mu       sync.RWMutex
	st       *state.State
	applied  uint64
	observer Observer
	audit    *auditchain.Config // nil until EnableAudit

	haltMu sync.Mutex
	halted error
	onHalt func(error)
}

// SetHalt installs the handler told, once, when the FSM meets an entry it
// cannot interpret and stops applying. Call it before raft starts.
func (f *FSM) SetHalt(h func(error)) {
	f.haltMu.Lock()
	defer f.haltMu.Unlock()
	f.onHalt = h
}

// Halted returns why the FSM stopped applying, or nil.
func (f *FSM) Halted() error {
	f.haltMu.Lock()
	defer f.haltMu.Unlock()
	return f.halted
}

func (f *FSM) halt(err error) error {
	f.haltMu.Lock()
	first := f.halted == nil
	if first {
		f.halted = err
	}
	h := f.onHalt
	f.haltMu.Unlock()
	if first && h != nil {
		h(err)
	}
	return err
}

var _ raft.FSM = (*FSM)(nil)

// NewFSM returns an empty state machine.
func NewFSM(cfg FSMConfig, crypto Crypto) (*FSM, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &FSM{cfg: cfg, crypto: crypto, st: state.New()}, nil
}

// SetObserver installs the observer of applied entries. Call it before
// raft starts applying.
func (f *FSM) SetObserver(o Observer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.observer = o
}

// Apply implements raft.FSM. It returns a Result.
//
// An entry this replica cannot interpret (an unknown type, a newer protocol
// version, a field it does not know, broken JSON) halts the FSM: the entry
// and every later one change nothing, and the halt handler (SetHalt) is
// told once, so the node can stop with an error naming the index and
// version instead of skipping an entry the others applied. An entry
// written under a version above the active one is refused like any
// invalid command: every replica reaches the same verdict.
func (f *FSM) Apply(l *raft.Log) interface{} {
	if l.Type != raft.LogCommand {
		return Result{}
	}
	if err := f.Halted(); err != nil {
		return Result{Err: err}
	}
	cmd, v, err := DecodeVersion(l.Data)
	if err != nil {
		return Result{Err: f.halt(fmt.Errorf("consensus: cannot apply entry %d (protocol %d; this build supports up to %d): %w", l.Index, v, MaxProtocol, err))}
	}
	f.mu.Lock()
	var res Result
	if _, raise := cmd.(*RaiseProtocol); v > f.st.ActiveProtocol() && !raise {
		res = Result{Err: fmt.Errorf("%s: %w: written under protocol %d, the cluster runs %d", cmd.Type(), ErrProtocolNotActive, v, f.st.ActiveProtocol())}
	} else {
		res = f.applyAuthorized(l.Index, cmd)
	}
	recs := f.auditApplied(l.Index, cmd, res)
	f.applied = l.Index
	obs := f.observer
	f.mu.Unlock()
	if obs != nil {
		obs.Applied(l.Index, cmd, res)
		if a, ok := obs.(AuditObserver); ok && len(recs) > 0 {
			a.AuditAppended(recs)
		}
	}
	return res
}

// applyAuthorized applies cmd once the policy in force allows its actor.
func (f *FSM) applyAuthorized(index uint64, cmd Command) Result {
	if err := f.authorize(cmd); err != nil {
		if s, ok := cmd.(Stamped); ok {
			f.advanceTime(s.StampTime())
		}
		return Result{Err: err}
	}
	return f.apply(index, cmd)
}

// apply applies cmd through its row of the command table (registry.go).
func (f *FSM) apply(index uint64, cmd Command) Result {
	if s, ok := cmd.(Stamped); ok {
		f.advanceTime(s.StampTime())
	}
	row, err := rowOf(cmd)
	if err != nil {
		return Result{Err: err}
	}
	return row.apply(f, cmd, index)
}

func (f *FSM) advanceTime(t int64) {
	if t > f.st.Time {
		f.st.Time = t
	}
}

// Snapshot implements raft.FSM. The state is serialised under the lock, so
// Persist runs without blocking Apply.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	data, err := json.Marshal(f.st)
	if err != nil {
		return nil, fmt.Errorf("consensus: snapshot: %w", err)
	}
	return snapshot(data), nil
}

// Restore implements raft.FSM; it replaces the whole state.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	st := state.New()
	if err := json.NewDecoder(rc).Decode(st); err != nil {
		return fmt.Errorf("consensus: restore snapshot: %w", err)
	}
	st.Records.Reindex()
	f.mu.Lock()
	f.st = st
	f.mu.Unlock()
	return nil
}

type snapshot []byte

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		sink.Cancel()
		return fmt.Errorf("consensus: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (snapshot) Release() {}

// Key returns a copy of the named key.
func (f *FSM) Key(name string) (*Key, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	k, ok := f.st.Keys[name]
	if !ok {
		return nil, false
	}
	return k.Clone(), true
}

// Keys returns copies of all keys, sorted by name.
func (f *FSM) Keys() []*Key {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Keys.Clones()
}

// Sign returns a copy of the signing request with this id.
func (f *FSM) Sign(requestID string) (*Sign, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s, ok := f.st.Signs[requestID]
	if !ok {
		return nil, false
	}
	return s.Clone(), true
}

// PendingSigns returns copies of all pending signing requests, by request id.
func (f *FSM) PendingSigns() []*Sign {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]*Sign, 0, f.st.Records.PendingCount())
	for _, id := range f.st.Records.PendingIDs() {
		out = append(out, f.st.Signs[id].Clone())
	}
	return out
}

// PreParamsReady returns the members that reported pre-parameters, sorted.
func (f *FSM) PreParamsReady() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]string, 0, len(f.st.PreParams))
	for n := range f.st.PreParams {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// AppliedIndex returns the index of the last entry applied.
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

// TableStats reports table sizes and limits for status output.
type TableStats struct {
	Keys, PendingSigns, SignRecords, MaxSignRecords int
	RequestRecords, MaxRequestRecords               int
	RecordAge                                       time.Duration
	Handles, MaxHandles                             int
}

// TableStats returns the current table sizes.
func (f *FSM) TableStats() TableStats {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return TableStats{Keys: len(f.st.Keys), PendingSigns: f.st.Records.PendingCount(), SignRecords: len(f.st.Signs), MaxSignRecords: f.cfg.MaxSignRecords,
		RequestRecords: len(f.st.Requests), MaxRequestRecords: f.cfg.MaxRequestRecords, RecordAge: time.Duration(f.limits().RequestRecordAge),
		Handles: len(f.st.Handles), MaxHandles: f.cfg.MaxHandles}
}
