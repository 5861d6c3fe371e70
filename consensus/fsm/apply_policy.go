package fsm

import (
	"fmt"
	"slices"
	"strings"

	"github.com/keyquorum/keyquorum/consensus/audit"
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

// PolicyState is the policy in force and where it came from.
type PolicyState struct {
	Version uint64         `json:"version"`
	SHA256  string         `json:"sha256"`
	Policy  *policy.Policy `json:"policy"`
	Index   uint64         `json:"index"` // the entry that set it
	Actor   string         `json:"actor"`
}

// openPolicy is the bootstrap policy: everyone may do everything.
func openPolicy() *policy.Policy {
	return &policy.Policy{Open: true, Tenants: []string{policy.DefaultTenant}, Principals: map[string]policy.Principal{}, SeparationOfDuties: [][2]policy.Role{}}
}

// policy returns the policy in force.
func (f *FSM) policy() *policy.Policy {
	if ps := f.st.Policy; ps != nil {
		return ps.Policy
	}
	return openPolicy()
}

func (c *SetPolicy) apply(f *FSM, index uint64) Result {
	var p policy.Policy
	if err := strictJSON([]byte(c.Document), &p); err != nil {
		return Result{Err: fmt.Errorf("set policy: %w: %w", policy.ErrInvalid, err)}
	}
	if p.Open {
		return Result{Err: fmt.Errorf("set policy: %w: a document cannot be open", policy.ErrInvalid)}
	}
	if err := p.Normalize(); err != nil {
		return Result{Err: fmt.Errorf("set policy: %w", err)}
	}
	cur := f.policyVersion()
	if c.BaseVersion != 0 && c.BaseVersion != cur {
		return Result{Err: fmt.Errorf("set policy: %w: written against version %d, version %d is in force", ErrStale, c.BaseVersion, cur)}
	}
	if err := f.checkTenantsKept(&p); err != nil {
		return Result{Err: fmt.Errorf("set policy: %w", err)}
	}
	return f.installPolicy(index, &p, c.SHA256, c.Actor)
}

// checkTenantsKept refuses a policy document that leaves out a tenant
// that exists: one the policy in force lists, or one that holds a key not
// yet destroyed. Only a tenant deletion (TenantDelete) takes a tenant
// away, since only it revokes the tenant's handles, raises its generation
// and orders every node to shred the tenant's key; a policy that merely
// stopped listing the tenant would leave all of that standing, unseen.
func (f *FSM) checkTenantsKept(next *policy.Policy) error {
	cur := f.policy()
	var exist []string
	if !cur.Open {
		exist = slices.Clone(cur.Tenants)
	}
	for name, k := range f.st.Keys {
		if !IsAuditKey(name) && k.Live() {
			exist = append(exist, policy.TenantOf(name))
		}
	}
	var dropped []string
	for _, t := range exist {
		if !slices.Contains(next.Tenants, t) && !slices.Contains(dropped, t) {
			dropped = append(dropped, t)
		}
	}
	if len(dropped) == 0 {
		return nil
	}
	slices.Sort(dropped)
	return fmt.Errorf("%w: the document leaves out tenant %s; a tenant is removed only by deleting it (kq tenant delete), which revokes its handles and shreds its keys",
		ErrBadTransition, strings.Join(dropped, ", "))
}

func (c *RevokePrincipal) apply(f *FSM, index uint64) Result {
	if c.Serial != "" || c.Principal == "" {
		return f.revokeSerial(index, c)
	}
	if !policy.ValidPrincipal(c.Principal) {
		return Result{Err: fmt.Errorf("revoke principal: %w: %.70q is not a principal name", ErrInvalidCommand, c.Principal)}
	}
	p := f.policy().Clone()
	if slices.Contains(p.Denied, c.Principal) {
		return Result{Duplicate: true, Note: "principal " + c.Principal + " was already denied"}
	}
	p.Denied = append(p.Denied, c.Principal)
	if err := p.Normalize(); err != nil {
		return Result{Err: fmt.Errorf("revoke principal %s: %w", c.Principal, err)}
	}
	return f.installPolicy(index, p, "", c.Actor)
}

// revokeSerial puts one certificate serial on the deny-list.
func (f *FSM) revokeSerial(index uint64, c *RevokePrincipal) Result {
	switch {
	case c.Principal != "":
		return Result{Err: fmt.Errorf("revoke: %w: a principal or a certificate serial, not both", ErrInvalidCommand)}
	case !policy.ValidSerial(c.Serial):
		return Result{Err: fmt.Errorf("revoke certificate: %w: serial %.70q is not canonical lower-case hex", ErrInvalidCommand, c.Serial)}
	}
	p := f.policy().Clone()
	if slices.Contains(p.DeniedSerials, c.Serial) {
		return Result{Duplicate: true, Note: "certificate serial " + c.Serial + " was already denied"}
	}
	p.DeniedSerials = append(p.DeniedSerials, c.Serial)
	if err := p.Normalize(); err != nil {
		return Result{Err: fmt.Errorf("revoke certificate %s: %w", c.Serial, err)}
	}
	return f.installPolicy(index, p, "", c.Actor)
}

// installPolicy makes p the policy in force; want, when set, is the hash
// the proposer computed, which the canonical form must match.
func (f *FSM) installPolicy(index uint64, p *policy.Policy, want, actor string) Result {
	_, hash, err := p.Canonical()
	if err != nil {
		return Result{Err: err}
	}
	if want != "" && want != hash {
		return Result{Err: fmt.Errorf("set policy: %w: document hashes to %s, not %s", policy.ErrInvalid, hash, want)}
	}
	old := f.st.Policy
	oldHash, oldVersion := "none", uint64(0)
	oldPolicy := openPolicy()
	if old != nil {
		oldHash, oldVersion, oldPolicy = old.SHA256, old.Version, old.Policy
	}
	if hash == oldHash {
		return Result{Duplicate: true, Note: fmt.Sprintf("policy v%d sha256 %s unchanged", oldVersion, hash)}
	}
	f.st.Policy = &PolicyState{Version: oldVersion + 1, SHA256: hash, Policy: p, Index: index, Actor: actor}
	return Result{Note: fmt.Sprintf("policy v%d -> v%d, sha256 %s -> %s: %s", oldVersion, oldVersion+1, oldHash, hash, policy.Diff(oldPolicy, p))}
}

func (f *FSM) policyVersion() uint64 {
	if f.st.Policy == nil {
		return 0
	}
	return f.st.Policy.Version
}

// PolicyInForce returns a copy of the policy every replica applies
// entries under; set is false under the bootstrap policy (version 0).
func (f *FSM) PolicyInForce() (st PolicyState, set bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if ps := f.st.Policy; ps != nil {
		c := *ps
		c.Policy = ps.Policy.Clone()
		return c, true
	}
	p := openPolicy()
	_, hash, _ := p.Canonical()
	return PolicyState{SHA256: hash, Policy: p}, false
}

func (c *SetPolicy) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func (c *RevokePrincipal) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}
