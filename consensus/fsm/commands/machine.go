package commands

import (
	"fmt"
	"time"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/handles"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/fsm/signs"
	"github.com/keyquorum/keyquorum/consensus/fsm/state"
)

// Crypto is what the state machine needs to know about algorithms.
// Implementations must be deterministic: every replica calls them on the
// same entries and must reach the same verdict.
type Crypto interface {
	// KnownAlgorithm reports whether keys of this algorithm can be created.
	KnownAlgorithm(algorithm string) bool
	// CheckMessage returns an error if message cannot be signed by the algorithm.
	CheckMessage(algorithm string, message []byte) error
	// Verify reports whether signature is valid for message under publicKey.
	Verify(algorithm string, publicKey, message, signature []byte) bool
}

// Config bounds the replicated tables. Start from DefaultConfig.
type Config struct {
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

// DefaultConfig returns the limits used by kqd.
func DefaultConfig() Config {
	return Config{MaxKeys: 10_000, MaxPendingSigns: 1024, MaxSignRecords: 100_000, MaxPresigsPerKey: 64,
		MaxRequestRecords: 100_000, RequestRecordAge: 24 * time.Hour, MaxHandles: 100_000, MaxHandleTTL: 24 * time.Hour,
		MinDestroyDelay: time.Second, BlameExclusion: 10 * time.Minute}
}

// Validate reports a limit that is out of range.
func (c Config) Validate() error {
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
	Key     *keys.Key
	Sign    *signs.Sign
	Presig  *pool.Presig
	Handle  *handles.Handle
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

// Machine applies commands to the replicated state. It holds no lock and
// does no I/O: its caller serialises every call, and replicas that apply
// the same entries reach the same state, results and audit records.
type Machine struct {
	cfg    Config
	crypto Crypto
	st     *state.State
	audit  *auditchain.Config // nil until EnableAudit
	// stop tells the replica to stop applying at an entry this build
	// cannot follow; halted is why, once it did (halt).
	stop   func(error) error
	halted error
}

// New returns a machine over an empty state. stop is told when an entry
// asks for more than this build can do (a ceremony raising the protocol
// past it), so the replica stops applying instead of applying on under
// rules it does not have; it returns the error the entry carries.
func New(cfg Config, crypto Crypto, stop func(error) error) *Machine {
	return &Machine{cfg: cfg, crypto: crypto, st: state.New(), stop: stop}
}

// halt stops the replica at the entry applying now and returns the error
// the entry carries.
func (f *Machine) halt(err error) error {
	if f.stop != nil {
		err = f.stop(err)
	}
	f.halted = err
	return err
}

// Halted returns why the entry applying now stopped the replica, or nil.
func (f *Machine) Halted() error { return f.halted }

// Config returns the machine's limits.
func (f *Machine) Config() Config { return f.cfg }

// State returns the replicated state. Callers read it only while no
// command applies.
func (f *Machine) State() *state.State { return f.st }

// Restore replaces the whole state, as a snapshot does.
func (f *Machine) Restore(st *state.State) { f.st = st }

// EnableAudit makes every applied entry append audit records to the hash
// chain held in the state; cfg must be valid.
func (f *Machine) EnableAudit(cfg auditchain.Config) { f.audit = &cfg }

// Apply applies cmd, read from the entry at index written under protocol
// version v, and returns its result and the audit records it linked onto
// the chain.
func (f *Machine) Apply(index uint64, v uint32, cmd entry.Command) (Result, []audit.Record) {
	var res Result
	if _, raise := cmd.(*entry.RaiseProtocol); v > f.st.ActiveProtocol() && !raise {
		res = Result{Err: fmt.Errorf("%s: %w: written under protocol %d, the cluster runs %d", cmd.Type(), protover.ErrNotActive, v, f.st.ActiveProtocol())}
	} else {
		res = f.applyAuthorized(index, cmd)
	}
	return res, f.auditApplied(index, cmd, res)
}

// applyAuthorized applies cmd once the policy in force allows its actor.
func (f *Machine) applyAuthorized(index uint64, cmd entry.Command) Result {
	if err := f.authorize(cmd); err != nil {
		if s, ok := cmd.(entry.Stamped); ok {
			f.advanceTime(s.StampTime())
		}
		return Result{Err: err}
	}
	return f.apply(index, cmd)
}

// apply applies cmd through its row of the command table (registry.go).
func (f *Machine) apply(index uint64, cmd entry.Command) Result {
	if s, ok := cmd.(entry.Stamped); ok {
		f.advanceTime(s.StampTime())
	}
	row, err := rowOf(cmd)
	if err != nil {
		return Result{Err: err}
	}
	return row.apply(f, cmd, index)
}

func (f *Machine) advanceTime(t int64) {
	if t > f.st.Time {
		f.st.Time = t
	}
}
