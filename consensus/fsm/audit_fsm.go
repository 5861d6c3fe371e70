package fsm

import (
	"errors"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
)

// AuditKey returns the audit key: the active audit key created first, or
// else the newest attempt (generating or failed). ok is false before the
// leader asked for one; attempts counts the names used.
func (f *FSM) AuditKey() (k *Key, attempts int, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.auditKey()
}

func (f *FSM) auditKey() (*Key, int, bool) {
	var active, newest *Key
	n := 0
	for name, k := range f.st.Keys {
		if !IsAuditKey(name) {
			continue
		}
		n++
		if k.Primary != 0 && (active == nil || k.CreatedIndex < active.CreatedIndex) {
			active = k
		}
		if newest == nil || k.CreatedIndex > newest.CreatedIndex {
			newest = k
		}
	}
	switch {
	case active != nil:
		return active.Clone(), n, true
	case newest != nil:
		return newest.Clone(), n, true
	}
	return nil, 0, false
}

// AuditRequestPrefix starts the request ids of checkpoint signatures;
// clients may not use it.
const AuditRequestPrefix = "_audit-"

// AuditObserver is an Observer that also receives the audit records each
// applied entry appended, in chain order. It is called after Applied, on
// the same goroutine, with the same constraints: return quickly.
type AuditObserver interface {
	AuditAppended(recs []audit.Record)
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
	f.audit = &cfg
	return nil
}

// AuditHead returns the chain head; zero when audit is off or empty.
func (f *FSM) AuditHead() auditchain.Head {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Audit.Tip()
}

// AuditRecent returns up to limit records with seq >= from that the state
// still keeps, oldest first.
func (f *FSM) AuditRecent(from uint64, limit int) []audit.Record {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Audit.Since(from, limit)
}

// auditApplied derives the records of one applied entry and links them
// onto the chain. It runs under f.mu after apply, so it sees the state the
// entry left.
func (f *FSM) auditApplied(index uint64, cmd Command, res Result) []audit.Record {
	if f.audit == nil {
		return nil
	}
	recs := f.deriveRecords(cmd, res)
	if f.st.Audit == nil {
		f.st.Audit = auditchain.New()
	}
	return f.st.Audit.Link(index, f.st.Time, recs, *f.audit)
}

// deriveRecords says what an entry did, in unlinked records, through its
// row of the command table (registry.go).
func (f *FSM) deriveRecords(cmd Command, res Result) []audit.Record {
	r := audit.Record{Op: string(cmd.Type()), Actor: ActorSupervisor}
	if rep, ok := cmd.(Report); ok {
		r.Actor = NodeActor(rep.Reporter()) // a report is its member's
	}
	r.Outcome, r.Reason = outcomeOf(res)
	row, err := rowOf(cmd)
	if err != nil {
		return []audit.Record{r}
	}
	return row.records(f, cmd, res, r)
}

// baseRecord is the records of a type whose base record says all: its op,
// its actor and its outcome.
func baseRecord[P Command](_ *FSM, _ P, _ Result, r audit.Record) []audit.Record {
	return []audit.Record{r}
}

// noteRecord is the record of an entry by actor whose reason is the
// refusal, or on success the result's note.
func noteRecord(r audit.Record, actor string, res Result) audit.Record {
	r.Actor, r.Reason = actor, res.Note
	if res.Err != nil {
		_, r.Reason = outcomeOf(res)
	}
	return r
}

// outcomeOf classifies a result; commands that end work refine it.
func outcomeOf(res Result) (audit.Outcome, string) {
	switch {
	case res.Err == nil && res.Duplicate:
		return audit.OutcomeDuplicate, ""
	case res.Err == nil:
		return audit.OutcomeOK, ""
	case errors.Is(res.Err, ErrStale):
		return audit.OutcomeStale, res.Err.Error()
	default:
		return audit.OutcomeDenied, res.Err.Error()
	}
}
