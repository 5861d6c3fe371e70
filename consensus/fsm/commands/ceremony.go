package commands

import (
	"errors"
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// ceremonyCommands propose, approve and cancel ceremonies.
func ceremonyCommands() []commandSpec {
	return []commandSpec{
		spec(protover.V2, applyProposeCeremony, recordsProposeCeremony),
		spec(protover.V2, applyApproveCeremony, recordsApproveCeremony),
		spec(protover.V2, applyCancelCeremony, recordsCancelCeremony),
	}
}

// Operator quorum ceremonies: the book, the rules of proposing, approving
// and cancelling, and each kind's params are package ceremony's. The
// entries below drive it under the policy in force; the entry that brings
// the quorum runs the change through the same path as the direct entry of
// its kind (runCeremony, ceremony_kinds.go), and package authz refuses the
// direct entries once the policy lists operators.

func applyProposeCeremony(f *Machine, c *entry.ProposeCeremony, index uint64) Result {
	p := f.policy()
	who, err := ceremony.Actor(p, c.Actor, "propose a ceremony", true)
	if err != nil {
		return Result{Err: err}
	}
	cer, _, err := f.st.Ceremonies.Draft(p, ceremony.Proposal{Kind: c.Kind, Params: c.Params, Nonce: c.Nonce, TTL: c.TTL, Proposer: who,
		Cluster: f.cfg.ClusterID, Index: index, Now: f.st.Time, PolicyVersion: f.policyVersion()},
		func(doc *ceremony.PolicyParams) (*policy.Policy, error) { return f.ceremonyPolicyDoc(c.Kind, doc) })
	if err != nil {
		return Result{Err: err}
	}
	// Refuse now what could not execute now; execution checks again.
	if _, err := f.runCeremony(index, cer, c.Context, true); err != nil {
		return Result{Err: fmt.Errorf("propose %s ceremony: %w", c.Kind, err)}
	}
	cer.Summary = cer.Summarize(ceremonyFacts{f})
	f.st.Ceremonies.Store(cer, f.st.Time)
	return Result{Ceremony: cer.Clone(), Note: cer.Summary}
}

func applyApproveCeremony(f *Machine, c *entry.ApproveCeremony, index uint64) Result {
	if _, err := ceremony.Actor(f.policy(), c.Actor, "approve a ceremony", false); err != nil {
		return Result{Err: err}
	}
	cer, ok := f.st.Ceremonies[c.ID]
	if !ok {
		return Result{Err: fmt.Errorf("approve %.40q: %w", c.ID, ceremony.ErrUnknown)}
	}
	if err := cer.Approve(c.PublicKey, c.Signature, index, f.st.Time); err != nil {
		return Result{Ceremony: cer.Clone(), Err: err}
	}
	if cer.Counted() < f.executeAt(cer) {
		return Result{Ceremony: cer.Clone()}
	}
	// The k-th approval: execute in this entry, or fail and execute nothing.
	cer.EndedIndex = index
	var (
		did ran
		err error
	)
	if v := f.policyVersion(); v != cer.PolicyVersion {
		err = fmt.Errorf("%w: the policy moved from v%d to v%d since the proposal", ErrBadTransition, cer.PolicyVersion, v)
	} else {
		did, err = f.runCeremony(index, cer, c.Context, false)
	}
	if h := f.Halted(); h != nil {
		return Result{Err: h} // this replica stops here (a protocol its build lacks)
	}
	if err := cer.Finish(index, did.note, err); err != nil {
		return Result{Ceremony: cer.Clone(), Err: err}
	}
	res := Result{Ceremony: cer.Clone(), Note: did.note, Version: did.version}
	if did.key != nil {
		res.Key = did.key.Clone()
	}
	return res
}

// executeAt is how many counted approvals execute a ceremony: its quorum.
func (f *Machine) executeAt(cer *ceremony.Ceremony) int {
	if bugsCompiled && f.cfg.CeremonyUndercount {
		return cer.Quorum - 1 // the deliberate bug: one approval short
	}
	return cer.Quorum
}

func applyCancelCeremony(f *Machine, c *entry.CancelCeremony, index uint64) Result {
	p := f.policy()
	who, err := ceremony.Actor(p, c.Actor, "cancel a ceremony", false)
	if err != nil {
		return Result{Err: err}
	}
	cer, ok := f.st.Ceremonies[c.ID]
	if !ok {
		return Result{Err: fmt.Errorf("cancel %.40q: %w", c.ID, ceremony.ErrUnknown)}
	}
	if err := cer.MayCancel(p, who); err != nil {
		return Result{Err: err}
	}
	if err := cer.Cancel(index, f.st.Time); err != nil {
		return Result{Ceremony: cer.Clone(), Err: err}
	}
	return Result{Ceremony: cer.Clone()}
}

// ceremonyFacts is the rest of the replicated state as a ceremony's
// summary reads it.
type ceremonyFacts struct{ f *Machine }

func (cf ceremonyFacts) PolicyDiff(kind policy.CeremonyKind, p *ceremony.PolicyParams) (string, bool) {
	next, err := cf.f.ceremonyPolicyDoc(kind, p)
	if err != nil {
		return "", false
	}
	return policy.Diff(cf.f.policy(), next), true
}

func (cf ceremonyFacts) KeyShape(name string) (int, int, bool) {
	k, ok := cf.f.st.Keys[name]
	if !ok {
		return 0, 0, false
	}
	return k.Threshold, len(k.Members), true
}

func (cf ceremonyFacts) Protocol() uint32 { return cf.f.st.ActiveProtocol() }

func recordsProposeCeremony(_ *Machine, c *entry.ProposeCeremony, res Result, r audit.Record) []audit.Record {
	r = noteRecord(r, c.Actor, res)
	r.Op = audit.OpCeremonyPropose
	if cer := res.Ceremony; res.Err == nil && cer != nil {
		r.RequestID, r.Ceremony = cer.ID, cer.ProposalEvidence()
	}
	return []audit.Record{r}
}

func recordsApproveCeremony(_ *Machine, c *entry.ApproveCeremony, res Result, r audit.Record) []audit.Record {
	r = noteRecord(r, c.Actor, res)
	r.Op, r.RequestID = audit.OpCeremonyApprove, c.ID
	// An approval that reached the quorum is evidence whether the change
	// then executed or failed its precondition.
	if cer := res.Ceremony; cer != nil && (res.Err == nil || errors.Is(res.Err, ceremony.ErrFailed)) {
		r.Ceremony = cer.ApprovalEvidence()
		if cer.State == ceremony.Failed {
			r.Outcome, r.Reason = audit.OutcomeFailed, cer.Note
		}
		if res.Key != nil {
			r.Key = res.Key.Name
		}
	}
	return []audit.Record{r}
}

func recordsCancelCeremony(_ *Machine, c *entry.CancelCeremony, res Result, r audit.Record) []audit.Record {
	r = noteRecord(r, c.Actor, res)
	r.Op, r.RequestID = audit.OpCeremonyCancel, c.ID
	if cer := res.Ceremony; res.Err == nil && cer != nil {
		r.Ceremony = cer.Evidence()
	}
	return []audit.Record{r}
}
