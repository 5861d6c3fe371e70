package entry

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
