package commands

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/authz"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/fsm/signs"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// freezeCommands freeze and unfreeze signing.
func freezeCommands() []commandSpec {
	return []commandSpec{
		spec(protover.V2, applyFreeze, recordsFreeze),
		spec(protover.V2, applyUnfreeze, recordsUnfreeze),
	}
}

// applyFreeze stops all signing: pending requests end here, in log order, and
// every later sign request is refused until an unfreeze.
func applyFreeze(f *Machine, c *entry.Freeze, index uint64) Result {
	if err := authz.Admin(f.policy(), c.Actor, "", "freeze", ""); err != nil {
		return Result{Err: err}
	}
	next, dup, err := f.st.Frozen.Start(c.Actor, c.Reason, index, f.st.Time)
	switch {
	case err != nil:
		return Result{Err: err}
	case dup:
		return Result{Duplicate: true, Note: "already frozen"}
	}
	f.st.Frozen = next
	var ended []string
	for _, id := range f.st.Records.PendingIDs() {
		s := f.st.Signs[id]
		if entry.IsAuditKey(s.Key) {
			continue // the audit chain keeps its checkpoints during an incident
		}
		s.Reason = "the cluster was frozen"
		f.finish(index, s, signs.Failed)
		ended = append(ended, id)
	}
	return Result{Ended: ended, Note: "cluster frozen: " + c.Reason}
}

func applyUnfreeze(f *Machine, c *entry.Unfreeze, _ uint64) Result {
	p := f.policy()
	if err := authz.Admin(p, c.Actor, "", "unfreeze", ""); err != nil {
		return Result{Err: err}
	}
	if p.HasOperators() {
		return Result{Err: fmt.Errorf("unfreeze: %w: kind %s", ceremony.ErrRequired, policy.KindUnfreeze)}
	}
	if err := f.st.Frozen.CheckLift(); err != nil {
		return Result{Err: err}
	}
	f.st.Frozen = nil
	return Result{Note: "cluster unfrozen"}
}

func recordsFreeze(_ *Machine, c *entry.Freeze, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func recordsUnfreeze(_ *Machine, c *entry.Unfreeze, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}
