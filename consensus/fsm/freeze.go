package fsm

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/freeze"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// freezeCommands freeze and unfreeze signing.
func freezeCommands() []commandSpec {
	return []commandSpec{
		spec[Freeze](ProtocolV2),
		spec[Unfreeze](ProtocolV2),
	}
}

// The break-glass freeze: any cluster-admin stops all signing at once,
// with no quorum; lifting it is a ceremony (KindUnfreeze) once the policy
// lists operators. Both entries need protocol 2.
const (
	TypeFreeze   CommandType = "freeze"
	TypeUnfreeze CommandType = "unfreeze"
)

// ErrFrozen is package freeze's: nothing signs until an unfreeze.
var ErrFrozen = freeze.ErrFrozen

// Freeze stops all signing cluster-wide at once: break glass, any
// cluster-admin, no quorum. Only an unfreeze ceremony (or, in a cluster
// without operators, an Unfreeze by a cluster-admin) lifts it.
type Freeze struct {
	Reason string `json:"reason"`
	Actor  string `json:"actor"`
	Time   int64  `json:"time"`
}

// Unfreeze lifts a freeze directly; refused once the policy lists
// operators (then it is a ceremony).
type Unfreeze struct {
	Actor string `json:"actor"`
	Time  int64  `json:"time"`
}

func (Freeze) Type() CommandType     { return TypeFreeze }
func (c *Freeze) Stamp(t int64)      { c.Time = t }
func (c *Freeze) StampTime() int64   { return c.Time }
func (Unfreeze) Type() CommandType   { return TypeUnfreeze }
func (c *Unfreeze) Stamp(t int64)    { c.Time = t }
func (c *Unfreeze) StampTime() int64 { return c.Time }

// apply stops all signing: pending requests end here, in log order, and
// every later sign request is refused until an unfreeze.
func (c *Freeze) apply(f *FSM, index uint64) Result {
	if err := verdictErr(policy.Decide(f.policy(), f.request(c.Actor, policy.ActSetPolicy, "", nil)), "freeze", ""); err != nil {
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
		if IsAuditKey(s.Key) {
			continue // the audit chain keeps its checkpoints during an incident
		}
		s.Reason = "the cluster was frozen"
		f.finish(index, s, SignStateFailed)
		ended = append(ended, id)
	}
	return Result{Ended: ended, Note: "cluster frozen: " + c.Reason}
}

func (c *Unfreeze) apply(f *FSM, _ uint64) Result {
	p := f.policy()
	if err := verdictErr(policy.Decide(p, f.request(c.Actor, policy.ActSetPolicy, "", nil)), "unfreeze", ""); err != nil {
		return Result{Err: err}
	}
	if p.HasOperators() {
		return Result{Err: fmt.Errorf("unfreeze: %w: kind %s", ErrCeremonyRequired, policy.KindUnfreeze)}
	}
	if err := f.st.Frozen.CheckLift(); err != nil {
		return Result{Err: err}
	}
	f.st.Frozen = nil
	return Result{Note: "cluster unfrozen"}
}

// FrozenState returns the freeze in force, or nil.
func (f *FSM) FrozenState() *freeze.Frozen {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Frozen.Copy()
}

func (c *Freeze) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func (c *Unfreeze) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}
