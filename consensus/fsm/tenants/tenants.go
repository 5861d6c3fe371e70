// Package tenants is what the state machine keeps of tenants beyond the
// policy's list of them: each tenant's generation and its last deletion
// (Registry), and the rules of adding a tenant to the policy and taking
// one out of it.
//
// Tenants are crypto boundaries. Every node seals a tenant's share blobs
// under that tenant's own data-encryption key (node/store/tenant_keys.go), and
// deleting the tenant has every node shred that key: no share of the
// tenant can be opened again, on any node, from any backup of its disk.
//
// A tenant name can be created again after its deletion; each deletion
// raises the tenant's generation, and a node keeps only the key of the
// current generation, so a re-created tenant never meets its former
// incarnation's key. The default tenant holds the keys made before
// tenants existed, sealed under the node's KEK directly, and is never
// deleted.
//
// The package is pure, as package fsm is.
package tenants

import (
	"fmt"
	"maps"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// Deletion is the record of a tenant's last deletion.
type Deletion struct {
	Tenant     string `json:"tenant"`
	Generation uint32 `json:"generation"` // the generation deleted
	Index      uint64 `json:"index"`
	Time       int64  `json:"time"`
	Actor      string `json:"actor"`
	Forced     bool   `json:"forced,omitempty"`
	// Shredded lists the nodes that reported their key of the generation
	// gone, sorted.
	Shredded []string `json:"shredded,omitempty"`
}

// Clone returns a deep copy.
func (d *Deletion) Clone() *Deletion {
	c := *d
	c.Shredded = slices.Clone(d.Shredded)
	return &c
}

// Info is one tenant as `kq tenant list` shows it.
type Info struct {
	Name       string        `json:"name"`
	Generation uint32        `json:"generation"`
	Keys       int           `json:"keys"`   // keys with a version not destroyed
	Weight     int           `json:"weight"` // against the keys quota
	Quota      *policy.Quota `json:"quota,omitempty"`
	// Deleted is the tenant's last deletion, if any.
	Deleted *Deletion `json:"deleted,omitempty"`
	Listed  bool      `json:"listed"` // in the policy's tenants
}

// Registry holds each tenant's generation (the deletions it went through)
// and its last deletion; both are nil until the first deletion.
type Registry struct {
	TenantGens      map[string]uint32    `json:"tenant_gens,omitempty"`
	TenantDeletions map[string]*Deletion `json:"tenant_deletions,omitempty"`
}

// Check refuses a restored registry with a null deletion.
func (r *Registry) Check() error {
	for t, d := range r.TenantDeletions {
		if d == nil {
			return fmt.Errorf("deletion of tenant %q is null", t)
		}
	}
	return nil
}

// Generation returns the tenant's current generation: how many times it
// was deleted. A node seals the tenant's blobs under its key of this
// generation and shreds every older one.
func (r *Registry) Generation(tenant string) uint32 { return r.TenantGens[tenant] }

// Deleted records the deletion of tenant's current generation by entry
// index at now, which raises its generation, and returns the generation
// deleted.
func (r *Registry) Deleted(tenant, actor string, forced bool, index uint64, now int64) uint32 {
	gen := r.Generation(tenant)
	if r.TenantGens == nil {
		r.TenantGens = map[string]uint32{}
	}
	if r.TenantDeletions == nil {
		r.TenantDeletions = map[string]*Deletion{}
	}
	r.TenantGens[tenant] = gen + 1
	r.TenantDeletions[tenant] = &Deletion{Tenant: tenant, Generation: gen, Index: index, Time: now, Actor: actor, Forced: forced}
	return gen
}

// Shredded records that node holds no data-encryption key of tenant's
// deleted generation or older; dup is true when it already said so.
func (r *Registry) Shredded(tenant string, generation uint32, node string) (dup bool, err error) {
	d, ok := r.TenantDeletions[tenant]
	switch {
	case !ok || d.Generation != generation:
		return false, fmt.Errorf("tenant shredded %q generation %d: %w: no such deletion", tenant, generation, fsmerr.ErrStale)
	case slices.Contains(d.Shredded, node):
		return true, nil
	}
	d.Shredded = append(d.Shredded, node)
	slices.Sort(d.Shredded)
	return false, nil
}

// Deletions returns copies of the deletion records, by tenant.
func (r *Registry) Deletions() []*Deletion {
	var out []*Deletion
	for _, t := range slices.Sorted(maps.Keys(r.TenantDeletions)) {
		out = append(out, r.TenantDeletions[t].Clone())
	}
	return out
}

// Info returns what the registry and policy p say of tenant: its
// generation, quota, last deletion and whether p lists it. The counts of
// its keys are the caller's.
func (r *Registry) Info(p *policy.Policy, tenant string) Info {
	ti := Info{Name: tenant, Generation: r.Generation(tenant), Listed: slices.Contains(p.Tenants, tenant)}
	if q, ok := p.Quotas[tenant]; ok {
		ti.Quota = &q
	}
	if d, ok := r.TenantDeletions[tenant]; ok {
		ti.Deleted = d.Clone()
	}
	return ti
}

// Names returns the tenants p lists, those in owning (the owners of keys)
// and the deleted ones, sorted.
func (r *Registry) Names(p *policy.Policy, owning []string) []string {
	names := map[string]bool{}
	for _, t := range p.Tenants {
		names[t] = true
	}
	for _, t := range owning {
		names[t] = true
	}
	for t := range r.TenantDeletions {
		names[t] = true
	}
	return slices.Sorted(maps.Keys(names))
}

// Add returns policy p with tenant added, or why it cannot be.
func Add(p *policy.Policy, tenant string) (*policy.Policy, error) {
	if !policy.ValidTenant(tenant) {
		return nil, fmt.Errorf("create tenant: %w: %.40q: use 1-32 lower-case letters, digits, '_' or '-'", fsmerr.ErrInvalidCommand, tenant)
	}
	next := p.Clone()
	if slices.Contains(next.Tenants, tenant) {
		return nil, fmt.Errorf("create tenant %q: %w: it exists", tenant, fsmerr.ErrBadTransition)
	}
	next.Tenants = append(next.Tenants, tenant)
	if err := next.Normalize(); err != nil {
		return nil, fmt.Errorf("create tenant %q: %w", tenant, err)
	}
	return next, nil
}

// CheckDelete reports why tenant cannot be deleted under policy p, or
// nil; hasKeys is whether it owns keys, by which a tenant exists under the
// open bootstrap policy.
func CheckDelete(p *policy.Policy, tenant string, hasKeys bool) error {
	switch {
	case tenant == policy.DefaultTenant:
		return fmt.Errorf("delete tenant %q: %w: the default tenant stays", tenant, fsmerr.ErrBadTransition)
	case !policy.ValidTenant(tenant):
		return fmt.Errorf("delete tenant: %w: %.40q is not a tenant name", fsmerr.ErrInvalidCommand, tenant)
	case !slices.Contains(p.Tenants, tenant) && (!p.Open || !hasKeys):
		// Under the open bootstrap policy a tenant exists by its keys.
		return fmt.Errorf("delete tenant %q: %w: no such tenant", tenant, fsmerr.ErrBadTransition)
	}
	return nil
}

// Remove returns policy p without tenant: its listing, quota and grants.
func Remove(p *policy.Policy, tenant string) (*policy.Policy, error) {
	next := p.Clone()
	next.Tenants = slices.DeleteFunc(next.Tenants, func(t string) bool { return t == tenant })
	delete(next.Quotas, tenant)
	for name, pr := range next.Principals {
		pr.Roles = slices.DeleteFunc(pr.Roles, func(g policy.Grant) bool { return g.Tenant == tenant })
		next.Principals[name] = pr
	}
	if err := next.Normalize(); err != nil {
		return nil, fmt.Errorf("delete tenant %q: %w", tenant, err)
	}
	return next, nil
}
