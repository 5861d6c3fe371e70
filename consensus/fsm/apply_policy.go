package fsm

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/inforce"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// policyCommands replace the cluster's policy and revoke principals.
func policyCommands() []commandSpec {
	return []commandSpec{
		spec[SetPolicy](ProtocolV2),
		spec[RevokePrincipal](ProtocolV2),
	}
}

// Policy entries. Both need protocol 2.
const (
	// TypeSetPolicy replaces the cluster policy.
	TypeSetPolicy CommandType = "set_policy"
	// TypeRevokePrincipal adds a principal to the deny-list.
	TypeRevokePrincipal CommandType = "revoke_principal"
)

// SetPolicy replaces the cluster policy with Document, the canonical JSON
// of a Policy, whose SHA-256 must be SHA256. When BaseVersion is set the
// policy in force must still be that version, so a change reviewed (or,
// later, approved by a quorum ceremony that wraps this entry) against one
// policy cannot apply over another. Every replica re-derives the canonical
// form and the hash, so no proposer can apply a document other than the
// one the hash names.
type SetPolicy struct {
	Document    string `json:"document"`
	SHA256      string `json:"sha256"`
	BaseVersion uint64 `json:"base_version,omitempty"`
	Actor       string `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
}

// RevokePrincipal puts Principal, or one client certificate by its Serial
// (exactly one of the two), on the deny-list: from this entry's index on,
// every replica refuses it everything, including calls already forwarded.
// It is instant by design: no quorum approval.
type RevokePrincipal struct {
	Principal string `json:"principal"`
	// Serial is a certificate serial in canonical form (CanonicalSerial).
	Serial string `json:"serial,omitempty"`
	Actor  string `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
}

func (SetPolicy) Type() CommandType         { return TypeSetPolicy }
func (c *SetPolicy) Stamp(t int64)          { c.Time = t }
func (c *SetPolicy) StampTime() int64       { return c.Time }
func (RevokePrincipal) Type() CommandType   { return TypeRevokePrincipal }
func (c *RevokePrincipal) Stamp(t int64)    { c.Time = t }
func (c *RevokePrincipal) StampTime() int64 { return c.Time }

// policy returns the policy in force.
func (f *FSM) policy() *policy.Policy { return f.st.Policy.Current() }

func (f *FSM) policyVersion() uint64 { return f.st.Policy.CurrentVersion() }

func (c *SetPolicy) apply(f *FSM, index uint64) Result {
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
func (f *FSM) checkTenantsKept(next *policy.Policy) error {
	var live []string
	for name, k := range f.st.Keys {
		if !IsAuditKey(name) && k.Live() {
			live = append(live, policy.TenantOf(name))
		}
	}
	return f.st.Policy.KeepsTenants(next, live)
}

func (c *RevokePrincipal) apply(f *FSM, index uint64) Result {
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
func (f *FSM) installPolicy(index uint64, p *policy.Policy, want, actor string) Result {
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

// PolicyInForce returns a copy of the policy every replica applies
// entries under; set is false under the bootstrap policy (version 0).
func (f *FSM) PolicyInForce() (st inforce.Record, set bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Policy.Copy()
}

func (c *SetPolicy) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func (c *RevokePrincipal) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}
