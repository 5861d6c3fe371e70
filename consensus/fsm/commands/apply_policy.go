package commands

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/inforce"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// policyCommands replace the cluster's policy and revoke principals.
func policyCommands() []commandSpec {
	return []commandSpec{
		spec(protover.V2, applySetPolicy, recordsSetPolicy),
		spec(protover.V2, applyRevokePrincipal, recordsRevokePrincipal),
	}
}

// policy returns the policy in force.
func (f *Machine) policy() *policy.Policy { return f.st.Policy.Current() }

func (f *Machine) policyVersion() uint64 { return f.st.Policy.CurrentVersion() }

func applySetPolicy(f *Machine, c *entry.SetPolicy, index uint64) Result {
	p, err := inforce.ParseDocument(c.Document)
	if err != nil {
		return Result{Err: fmt.Errorf("set policy: %w", err)}
	}
	cur := f.policyVersion()
	if c.BaseVersion != 0 && c.BaseVersion != cur {
		return Result{Err: fmt.Errorf("set policy: %w: written against version %d, version %d is in force", ErrStale, c.BaseVersion, cur)}
	}
	if err := f.checkTenantsKept(p); err != nil {
		return Result{Err: fmt.Errorf("set policy: %w", err)}
	}
	return f.installPolicy(index, p, c.SHA256, c.Actor)
}

// checkTenantsKept refuses a policy document that leaves out a tenant
// that exists (inforce.Record.KeepsTenants): one the policy in force
// lists, or one that holds a key not yet destroyed.
func (f *Machine) checkTenantsKept(next *policy.Policy) error {
	var live []string
	for name, k := range f.st.Keys {
		if !entry.IsAuditKey(name) && k.Live() {
			live = append(live, policy.TenantOf(name))
		}
	}
	return f.st.Policy.KeepsTenants(next, live)
}

func applyRevokePrincipal(f *Machine, c *entry.RevokePrincipal, index uint64) Result {
	p, note, err := f.st.Policy.Deny(c.Principal, c.Serial)
	switch {
	case err != nil:
		return Result{Err: err}
	case p == nil:
		return Result{Duplicate: true, Note: note}
	}
	return f.installPolicy(index, p, "", c.Actor)
}

// installPolicy makes p the policy in force; want, when set, is the hash
// the proposer computed, which the canonical form must match.
func (f *Machine) installPolicy(index uint64, p *policy.Policy, want, actor string) Result {
	next, note, err := f.st.Policy.Install(p, want, index, actor)
	switch {
	case err != nil:
		return Result{Err: err}
	case next == nil:
		return Result{Duplicate: true, Note: note}
	}
	f.st.Policy = next
	return Result{Note: note}
}

func recordsSetPolicy(_ *Machine, c *entry.SetPolicy, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func recordsRevokePrincipal(_ *Machine, c *entry.RevokePrincipal, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}
