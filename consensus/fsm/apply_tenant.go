package fsm

import (
	"fmt"
	"maps"
	"slices"
	"sort"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// tenantCommands create and delete tenants, and let members report a
// deleted tenant's data-encryption key shredded.
func tenantCommands() []commandSpec {
	return []commandSpec{
		spec[CreateTenant](ProtocolV2),
		spec[DeleteTenant](ProtocolV2),
		spec[TenantShredded](ProtocolV2),
	}
}

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

// Tenant entries; all need protocol 2.
const (
	// TypeCreateTenant adds a tenant to the policy.
	TypeCreateTenant CommandType = "create_tenant"
	// TypeDeleteTenant deletes a tenant and orders its keys shredded.
	TypeDeleteTenant CommandType = "delete_tenant"
	// TypeTenantShredded reports that a node holds no key of a deleted
	// tenant's generation any more.
	TypeTenantShredded CommandType = "tenant_shredded"
)

// CreateTenant adds Tenant to the policy in force (cluster-admin).
type CreateTenant struct {
	Tenant string `json:"tenant"`
	Actor  string `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
}

// DeleteTenant deletes Tenant (cluster-admin): it leaves the policy with
// its grants and quota, its handles are revoked, and every node shreds its
// data-encryption key. Every version of the tenant's keys must be
// destroyed; with Force, versions scheduled for destruction whose pending
// period is over are destroyed by this entry instead of waiting for theirs.
type DeleteTenant struct {
	Tenant string `json:"tenant"`
	Force  bool   `json:"force,omitempty"`
	Actor  string `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
}

// TenantShredded reports that Node holds no data-encryption key of
// Tenant's Generation or older: its evidence, like ShareDestroyed's.
type TenantShredded struct {
	Tenant     string `json:"tenant"`
	Generation uint32 `json:"generation"`
	Node       string `json:"node"`
}

func (CreateTenant) Type() CommandType    { return TypeCreateTenant }
func (c *CreateTenant) Stamp(t int64)     { c.Time = t }
func (c *CreateTenant) StampTime() int64  { return c.Time }
func (DeleteTenant) Type() CommandType    { return TypeDeleteTenant }
func (c *DeleteTenant) Stamp(t int64)     { c.Time = t }
func (c *DeleteTenant) StampTime() int64  { return c.Time }
func (TenantShredded) Type() CommandType  { return TypeTenantShredded }
func (c TenantShredded) Reporter() string { return c.Node }

// TenantDeletion is the record of a tenant's last deletion.
type TenantDeletion struct {
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

func (d *TenantDeletion) clone() *TenantDeletion {
	c := *d
	c.Shredded = slices.Clone(d.Shredded)
	return &c
}

func (c *CreateTenant) apply(f *FSM, index uint64) Result {
	note, err := f.TenantCreate(index, c.Tenant, c.Actor, false)
	return Result{Err: err, Note: note}
}

func (c *DeleteTenant) apply(f *FSM, index uint64) Result {
	note, err := f.TenantDelete(index, c.Tenant, c.Force, c.Actor, false)
	return Result{Err: err, Note: note}
}

// TenantCreate adds tenant to the policy in force, or with dry set checks
// that it could, changing nothing. It is the one place a tenant is
// created: the direct entry and a tenant-create ceremony both run it.
// It must be called with the FSM's lock held, inside Apply.
func (f *FSM) TenantCreate(index uint64, tenant, actor string, dry bool) (string, error) {
	if !policy.ValidTenant(tenant) {
		return "", fmt.Errorf("create tenant: %w: %.40q: use 1-32 lower-case letters, digits, '_' or '-'", ErrInvalidCommand, tenant)
	}
	next := f.policy().Clone()
	if slices.Contains(next.Tenants, tenant) {
		return "", fmt.Errorf("create tenant %q: %w: it exists", tenant, ErrBadTransition)
	}
	next.Tenants = append(next.Tenants, tenant)
	if err := next.Normalize(); err != nil {
		return "", fmt.Errorf("create tenant %q: %w", tenant, err)
	}
	if dry {
		return "", nil
	}
	res := f.installPolicy(index, next, "", actor)
	if res.Err != nil {
		return "", res.Err
	}
	return fmt.Sprintf("tenant %s created (generation %d); %s", tenant, f.tenantGeneration(tenant), res.Note), nil
}

// TenantDelete deletes tenant, or with dry set checks that it could,
// changing nothing. It is the one place a tenant is deleted: the direct
// entry and a tenant-delete ceremony both run it. It must be called with
// the FSM's lock held, inside Apply.
func (f *FSM) TenantDelete(index uint64, tenant string, force bool, actor string, dry bool) (string, error) {
	p := f.policy()
	keys := f.keysOfTenant(tenant)
	switch {
	case tenant == policy.DefaultTenant:
		return "", fmt.Errorf("delete tenant %q: %w: the default tenant stays", tenant, ErrBadTransition)
	case !policy.ValidTenant(tenant):
		return "", fmt.Errorf("delete tenant: %w: %.40q is not a tenant name", ErrInvalidCommand, tenant)
	case !slices.Contains(p.Tenants, tenant) && (!p.Open || len(keys) == 0):
		// Under the open bootstrap policy a tenant exists by its keys.
		return "", fmt.Errorf("delete tenant %q: %w: no such tenant", tenant, ErrBadTransition)
	}
	for _, id := range f.st.PendingIDs() {
		if policy.TenantOf(f.st.Signs[id].Key) == tenant {
			return "", fmt.Errorf("delete tenant %q: %w: signing request %s of %q is pending", tenant, ErrBadTransition, id, f.st.Signs[id].Key)
		}
	}
	var due []*Version
	for _, k := range keys {
		d, err := k.Emptied(force, f.st.Time)
		if err != nil {
			return "", fmt.Errorf("delete tenant %q: %w", tenant, err)
		}
		due = append(due, d...)
	}
	next := p.Clone()
	next.Tenants = slices.DeleteFunc(next.Tenants, func(t string) bool { return t == tenant })
	delete(next.Quotas, tenant)
	for name, pr := range next.Principals {
		pr.Roles = slices.DeleteFunc(pr.Roles, func(g policy.Grant) bool { return g.Tenant == tenant })
		next.Principals[name] = pr
	}
	if err := next.Normalize(); err != nil {
		return "", fmt.Errorf("delete tenant %q: %w", tenant, err)
	}
	if dry {
		return "", nil
	}
	for _, v := range due {
		v.ExecuteDestroy()
	}
	for _, k := range keys {
		f.sweepFrost(k.Name)
	}
	revoked := f.st.Handles.RevokeTenant(tenant)
	gen := f.tenantGeneration(tenant)
	if f.st.TenantGens == nil {
		f.st.TenantGens = map[string]uint32{}
	}
	if f.st.TenantDeletions == nil {
		f.st.TenantDeletions = map[string]*TenantDeletion{}
	}
	f.st.TenantGens[tenant] = gen + 1
	f.st.TenantDeletions[tenant] = &TenantDeletion{Tenant: tenant, Generation: gen, Index: index, Time: f.st.Time, Actor: actor, Forced: force}
	note := fmt.Sprintf("tenant %s deleted (generation %d): %d keys, %d handles revoked, %d versions destroyed now; every node shreds its data-encryption key",
		tenant, gen, len(keys), revoked, len(due))
	if slices.Contains(p.Tenants, tenant) {
		res := f.installPolicy(index, next, "", actor)
		if res.Err != nil {
			return "", res.Err
		}
		note += "; " + res.Note
	}
	return note, nil
}

func (c *TenantShredded) apply(f *FSM, _ uint64) Result {
	d, ok := f.st.TenantDeletions[c.Tenant]
	switch {
	case !ok || d.Generation != c.Generation:
		return Result{Err: fmt.Errorf("tenant shredded %q generation %d: %w: no such deletion", c.Tenant, c.Generation, ErrStale)}
	case slices.Contains(d.Shredded, c.Node):
		return Result{Duplicate: true}
	}
	d.Shredded = append(d.Shredded, c.Node)
	slices.Sort(d.Shredded)
	return Result{Note: fmt.Sprintf("%s shredded tenant %s generation %d", c.Node, c.Tenant, c.Generation)}
}

// keysOfTenant returns the tenant's keys (never the audit key), by name.
func (f *FSM) keysOfTenant(tenant string) []*Key {
	var out []*Key
	for name, k := range f.st.Keys {
		if !IsAuditKey(name) && policy.TenantOf(name) == tenant {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (f *FSM) tenantGeneration(tenant string) uint32 { return f.st.TenantGens[tenant] }

// TenantGeneration returns the tenant's current generation: how many
// times it was deleted. A node seals the tenant's blobs under its key of
// this generation and shreds every older one.
func (f *FSM) TenantGeneration(tenant string) uint32 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.tenantGeneration(tenant)
}

// TenantInfo is one tenant as `kq tenant list` shows it.
type TenantInfo struct {
	Name       string        `json:"name"`
	Generation uint32        `json:"generation"`
	Keys       int           `json:"keys"`   // keys with a version not destroyed
	Weight     int           `json:"weight"` // against the keys quota
	Quota      *policy.Quota `json:"quota,omitempty"`
	// Deleted is the tenant's last deletion, if any.
	Deleted *TenantDeletion `json:"deleted,omitempty"`
	Listed  bool            `json:"listed"` // in the policy's tenants
}

// Tenants lists the policy's tenants, the tenants that hold keys and the
// deleted ones, by name.
func (f *FSM) Tenants() []TenantInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	p := f.policy()
	names := map[string]bool{}
	for _, t := range p.Tenants {
		names[t] = true
	}
	for name := range f.st.Keys {
		if !IsAuditKey(name) {
			names[policy.TenantOf(name)] = true
		}
	}
	for t := range f.st.TenantDeletions {
		names[t] = true
	}
	var out []TenantInfo
	for _, t := range slices.Sorted(maps.Keys(names)) {
		ti := TenantInfo{Name: t, Generation: f.tenantGeneration(t), Listed: slices.Contains(p.Tenants, t), Weight: f.tenantKeys(t)}
		for _, k := range f.keysOfTenant(t) {
			if k.Live() {
				ti.Keys++
			}
		}
		if q, ok := p.Quotas[t]; ok {
			ti.Quota = &q
		}
		if d, ok := f.st.TenantDeletions[t]; ok {
			ti.Deleted = d.clone()
		}
		out = append(out, ti)
	}
	return out
}

// TenantDeletions returns copies of the deletions records, by tenant.
func (f *FSM) TenantDeletions() []*TenantDeletion {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*TenantDeletion
	for _, t := range slices.Sorted(maps.Keys(f.st.TenantDeletions)) {
		out = append(out, f.st.TenantDeletions[t].clone())
	}
	return out
}

func (c *CreateTenant) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func (c *DeleteTenant) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func (c *TenantShredded) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Actor, r.Version = NodeActor(c.Node), c.Generation
	r.Reason = "tenant " + c.Tenant + " data-encryption key shredded"
	if res.Err != nil {
		_, r.Reason = outcomeOf(res)
	}
	return []audit.Record{r}
}
