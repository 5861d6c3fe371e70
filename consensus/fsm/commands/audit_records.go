package commands

import (
	"errors"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
)

// AuditKey returns the audit key: the active audit key created first, or
// else the newest attempt (generating or failed). ok is false before the
// leader asked for one; attempts counts the names used.
func (f *Machine) AuditKey() (k *keys.Key, attempts int, ok bool) {
	var active, newest *keys.Key
	n := 0
	for name, k := range f.st.Keys {
		if !entry.IsAuditKey(name) {
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

// auditApplied derives the records of one applied entry and links them
// onto the chain. It runs after apply, so it sees the state the entry
// left.
func (f *Machine) auditApplied(index uint64, cmd entry.Command, res Result) []audit.Record {
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
func (f *Machine) deriveRecords(cmd entry.Command, res Result) []audit.Record {
	r := audit.Record{Op: string(cmd.Type()), Actor: entry.ActorSupervisor}
	if rep, ok := cmd.(entry.Report); ok {
		r.Actor = entry.NodeActor(rep.Reporter()) // a report is its member's
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
func baseRecord[P entry.Command](_ *Machine, _ P, _ Result, r audit.Record) []audit.Record {
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
