package commands

import (
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/fsm/tenants"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// tenantCommands create and delete tenants, and let members report a
// deleted tenant's data-encryption key shredded.
func tenantCommands() []commandSpec {
	return []commandSpec{
		spec(protover.V2, applyCreateTenant, recordsCreateTenant),
		spec(protover.V2, applyDeleteTenant, recordsDeleteTenant),
		spec(protover.V2, applyTenantShredded, recordsTenantShredded),
	}
}

// Tenants are crypto boundaries: deleting one has every node shred its
// data-encryption key (package tenants explains generations).

func applyCreateTenant(f *Machine, c *entry.CreateTenant, index uint64) Result {
	note, err := f.tenantCreate(index, c.Tenant, c.Actor, false)
	return Result{Err: err, Note: note}
}

func applyDeleteTenant(f *Machine, c *entry.DeleteTenant, index uint64) Result {
	note, err := f.tenantDelete(index, c.Tenant, c.Force, c.Actor, false)
	return Result{Err: err, Note: note}
}

func applyTenantShredded(f *Machine, c *entry.TenantShredded, _ uint64) Result {
	dup, err := f.st.Registry.Shredded(c.Tenant, c.Generation, c.Node)
	switch {
	case err != nil:
		return Result{Err: err}
	case dup:
		return Result{Duplicate: true}
	}
	return Result{Note: fmt.Sprintf("%s shredded tenant %s generation %d", c.Node, c.Tenant, c.Generation)}
}

// keysOfTenant returns the tenant's keys (never the audit key), by name.
func (f *Machine) keysOfTenant(tenant string) []*keys.Key {
	return f.st.Keys.Where(func(name string) bool { return !entry.IsAuditKey(name) && policy.TenantOf(name) == tenant })
}

func recordsCreateTenant(_ *Machine, c *entry.CreateTenant, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func recordsDeleteTenant(_ *Machine, c *entry.DeleteTenant, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func recordsTenantShredded(_ *Machine, c *entry.TenantShredded, res Result, r audit.Record) []audit.Record {
	r.Version = c.Generation
	r.Reason = "tenant " + c.Tenant + " data-encryption key shredded"
	if res.Err != nil {
		_, r.Reason = outcomeOf(res)
	}
	return []audit.Record{r}
}

// tenantCreate adds tenant to the policy in force, or with dry set checks
// that it could, changing nothing. It is the one place a tenant is
// created: the direct entry and a tenant-create ceremony both run it.
// It runs inside Apply.
func (f *Machine) tenantCreate(index uint64, tenant, actor string, dry bool) (string, error) {
	next, err := tenants.Add(f.policy(), tenant)
	if err != nil {
		return "", err
	}
	if dry {
		return "", nil
	}
	res := f.installPolicy(index, next, "", actor)
	if res.Err != nil {
		return "", res.Err
	}
	return fmt.Sprintf("tenant %s created (generation %d); %s", tenant, f.st.Registry.Generation(tenant), res.Note), nil
}

// tenantDelete deletes tenant, or with dry set checks that it could,
// changing nothing. It is the one place a tenant is deleted: the direct
// entry and a tenant-delete ceremony both run it. It runs inside Apply.
func (f *Machine) tenantDelete(index uint64, tenant string, force bool, actor string, dry bool) (string, error) {
	p := f.policy()
	owned := f.keysOfTenant(tenant)
	if err := tenants.CheckDelete(p, tenant, len(owned) > 0); err != nil {
		return "", err
	}
	for _, id := range f.st.Records.PendingIDs() {
		if policy.TenantOf(f.st.Signs[id].Key) == tenant {
			return "", fmt.Errorf("delete tenant %q: %w: signing request %s of %q is pending", tenant, ErrBadTransition, id, f.st.Signs[id].Key)
		}
	}
	var due []*keys.Version
	for _, k := range owned {
		d, err := k.Emptied(force, f.st.Time)
		if err != nil {
			return "", fmt.Errorf("delete tenant %q: %w", tenant, err)
		}
		due = append(due, d...)
	}
	next, err := tenants.Remove(p, tenant)
	if err != nil {
		return "", err
	}
	if dry {
		return "", nil
	}
	for _, v := range due {
		v.ExecuteDestroy()
	}
	for _, k := range owned {
		f.sweepFrost(k.Name)
	}
	revoked := f.st.Handles.RevokeTenant(tenant)
	gen := f.st.Registry.Deleted(tenant, actor, force, index, f.st.Time)
	note := fmt.Sprintf("tenant %s deleted (generation %d): %d keys, %d handles revoked, %d versions destroyed now; every node shreds its data-encryption key",
		tenant, gen, len(owned), revoked, len(due))
	if slices.Contains(p.Tenants, tenant) {
		res := f.installPolicy(index, next, "", actor)
		if res.Err != nil {
			return "", res.Err
		}
		note += "; " + res.Note
	}
	return note, nil
}
