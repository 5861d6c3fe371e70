package fsm

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"
	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/consensus/fsm/commands"
	"github.com/keyquorum/keyquorum/consensus/fsm/state"
)

// The state machine's deterministic core is package commands'; these
// names keep the FSM's API in one vocabulary for its callers.
type (
	// Crypto is what the FSM needs to know about algorithms; its
	// implementations must be deterministic.
	Crypto = commands.Crypto
	// FSMConfig bounds the replicated tables. Start from DefaultFSMConfig.
	FSMConfig = commands.Config
	// Result is the outcome of applying one command; raft hands it back
	// to the proposer. Err is nil on success.
	Result = commands.Result
)

// DefaultFSMConfig returns the limits used by kqd.
func DefaultFSMConfig() FSMConfig { return commands.DefaultConfig() }

// Observer learns of every applied entry. Applied runs inside raft's apply
// loop: it must return quickly and never block on the network or a lock
// held across slow work.
type Observer interface {
	Applied(index uint64, cmd Command, res Result)
}

// AuditObserver is an Observer that also receives the audit records each
// applied entry appended, in chain order. It is called after Applied, on
// the same goroutine, with the same constraints: return quickly.
type AuditObserver interface {
	AuditAppended(recs []audit.Record)
}

// FSM is keyquorum's replicated state machine. It is deterministic: times
// come from the command, stamped by the leader, and nothing slow (threshold
// protocol rounds, TPM calls, network) runs inside Apply. The node reacts to
// applied entries through the Observer and proposes the outcome back.
//
// FSM is the concurrency shell around a commands.Machine, which applies
// entries: it serialises them with the reads, decodes entries, takes and
// restores snapshots, and stops at an entry this build cannot follow.
type FSM struct {
	mu       sync.RWMutex
	m        *commands.Machine // the state and what applies to it; under mu
	applied  uint64
	observer Observer

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
	f := &FSM{}
	f.m = commands.New(cfg, crypto, f.halt)
	return f, nil
}

// SetObserver installs the observer of applied entries. Call it before
// raft starts applying.
func (f *FSM) SetObserver(o Observer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.observer = o
}

// EnableAudit makes every applied entry append audit records to a hash
// chain held in the replicated state. Call it before raft starts applying,
// with the same config on every replica: the chain is part of the state,
// so replicas that disagree on it diverge.
func (f *FSM) EnableAudit(cfg auditchain.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m.EnableAudit(cfg)
	return nil
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
	res, recs := f.m.Apply(l.Index, v, cmd)
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

// Snapshot implements raft.FSM. The state is serialised under the lock, so
// Persist runs without blocking Apply.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	data, err := json.Marshal(f.m.State())
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
	f.m.Restore(st)
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
