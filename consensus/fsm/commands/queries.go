package commands

import (
	"github.com/keyquorum/keyquorum/consensus/fsm/authz"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/settings"
	"github.com/keyquorum/keyquorum/consensus/fsm/tenants"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// The questions of the state machine's read API that take more than one
// table of the state: they share their rules with the entries, so they are
// answered here, where those rules live. Each reads the state as it is
// between entries; the caller keeps commands from applying meanwhile.

// Policy returns the policy in force.
func (f *Machine) Policy() *policy.Policy { return f.policy() }

// Limits returns the limits in force: the replicated ones once set, else
// the machine's Config.
func (f *Machine) Limits() settings.Limits { return f.limits() }

// PresigRoom reports whether the tenant of key may start another
// presignature under its presigs quota, as the entry would decide it now:
// the leader asks before it proposes a refill, so a full quota costs no
// entries.
func (f *Machine) PresigRoom(key string) bool {
	tenant := policy.TenantOf(key)
	limit := f.presigQuota(tenant)
	return limit == 0 || f.st.Presigs.OfTenant(tenant, f.st.Time) < limit
}

// Tenants lists the policy's tenants, the tenants that hold keys and the
// deleted ones, by name.
func (f *Machine) Tenants() []tenants.Info {
	p := f.policy()
	var owners []string
	for name := range f.st.Keys {
		if !entry.IsAuditKey(name) {
			owners = append(owners, policy.TenantOf(name))
		}
	}
	var out []tenants.Info
	for _, t := range f.st.Registry.Names(p, owners) {
		ti := f.st.Registry.Info(p, t)
		ti.Weight = f.tenantKeys(t)
		for _, k := range f.keysOfTenant(t) {
			if k.Live() {
				ti.Keys++
			}
		}
		out = append(out, ti)
	}
	return out
}

// AdmitSign reports the quota refusal the entry would give a new sign by
// actor with key now, so the leader refuses it before it costs an entry.
// Every other verdict is left to the entry, which decides it again.
func (f *Machine) AdmitSign(actor, key, requestID string) error {
	if _, retry := f.st.Signs[requestID]; retry {
		return nil
	}
	d := policy.Decide(f.policy(), authz.SignRequest(authzState{f}, actor, "", key))
	if d.Verdict != policy.DenyQuota {
		return nil
	}
	return authz.Err(d, "sign with", key)
}
