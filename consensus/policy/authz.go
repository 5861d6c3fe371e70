package policy

import (
	"errors"
	"slices"
	"time"
)

// Action is what a request asks of the policy.
type Action string

// The actions the policy decides.
const (
	ActCreateKey    Action = "create_key"    // key-admin
	ActChangeKey    Action = "change_key"    // key-admin: lifecycle and key policy
	ActIssueHandle  Action = "issue_handle"  // issuer, within its purposes and max TTL
	ActRevokeHandle Action = "revoke_handle" // issuer
	ActSign         Action = "sign"          // signer (and a handle)
	ActReadKey      Action = "read_key"      // any role on the tenant
	ActSetPolicy    Action = "set_policy"    // cluster-admin: the policy and the deny-list
)

// AuthRequest is one request as the policy sees it. Counts are the
// tenant's current keys and live handles, for its quotas.
type AuthRequest struct {
	Principal string // "" when the actor is not a client identity
	// Serial is the client certificate's serial (CanonicalSerial), ""
	// when the entry does not say.
	Serial  string
	Action  Action
	Tenant  string
	Purpose string
	TTL     int64 // issue: nanoseconds
	Keys    int   // create: the tenant's key weight now (KeyWeight)
	Weight  int   // create: the new key's weight; 0 counts as 1
	Handles int
	// Sessions and PrincipalSessions are the signing requests pending for
	// the tenant and for the principal, for a new sign.
	Sessions          int
	PrincipalSessions int
}

// Verdict is the kind of a decision.
type Verdict int

// Verdicts. NotFound is a denial that must read like an unknown key, so
// that names in a tenant the caller has no role on do not leak.
const (
	Allow Verdict = iota
	DenyPermission
	DenyNotFound
	DenyQuota
)

// DenyReason is why a request was denied, from one closed set, so that
// audit reasons and metric labels stay bounded.
type DenyReason string

// The reasons of a denial.
const (
	ReasonPrincipalDenied DenyReason = "principal-denied"    // on the deny-list
	ReasonSerialDenied    DenyReason = "certificate-denied"  // its certificate's serial is on the deny-list
	ReasonNotClient       DenyReason = "not-a-client"        // the actor is no client identity
	ReasonUnknownTenant   DenyReason = "unknown-tenant"      // the policy has no such tenant
	ReasonNoRoleOnTenant  DenyReason = "no-role-on-tenant"   // answered as NOT_FOUND
	ReasonMissingRole     DenyReason = "missing-role"        // a role on the tenant, not this one
	ReasonPurpose         DenyReason = "purpose-not-granted" // issuer limited to other purposes
	ReasonTTL             DenyReason = "ttl-above-grant"     // issuer limited to a shorter TTL
	ReasonQuotaKeys       DenyReason = "quota-keys"
	ReasonQuotaHandles    DenyReason = "quota-handles"
	ReasonQuotaSessions   DenyReason = "quota-sessions"
)

// Decision is the policy's answer to one request.
type Decision struct {
	Verdict Verdict
	Reason  DenyReason
	Role    Role // the role the request needed, when one was missing
	// Quota is the refusal of a DenyQuota verdict.
	Quota *QuotaExceeded
}

// roleFor is the role an action needs; "" for reads, which any role on
// the tenant allows.
func roleFor(a Action) Role {
	switch a {
	case ActCreateKey, ActChangeKey:
		return RoleKeyAdmin
	case ActIssueHandle, ActRevokeHandle:
		return RoleIssuer
	case ActSign:
		return RoleSigner
	case ActSetPolicy:
		return RoleClusterAdmin
	}
	return ""
}

// Decide is the authorization rule: a pure function of the policy and
// the request, the same on every replica. The deny-list comes first and
// holds even under the open bootstrap policy.
func Decide(p *Policy, r AuthRequest) Decision {
	deny := func(v Verdict, why DenyReason) Decision { return Decision{Verdict: v, Reason: why} }
	if r.Principal != "" && slices.Contains(p.Denied, r.Principal) {
		return deny(DenyPermission, ReasonPrincipalDenied)
	}
	if r.Serial != "" && slices.Contains(p.DeniedSerials, r.Serial) {
		return deny(DenyPermission, ReasonSerialDenied)
	}
	if p.Open {
		return Decision{}
	}
	if r.Principal == "" {
		return deny(DenyPermission, ReasonNotClient)
	}
	need := roleFor(r.Action)
	if r.Action == ActSetPolicy {
		if !p.Holds(r.Principal, RoleClusterAdmin, AllTenants) {
			return Decision{Verdict: DenyPermission, Reason: ReasonMissingRole, Role: need}
		}
		return Decision{}
	}
	hidden := DenyNotFound // an existing key must not be seen to exist
	if r.Action == ActCreateKey {
		hidden = DenyPermission // nothing to hide: the name is the caller's
	}
	if !slices.Contains(p.Tenants, r.Tenant) {
		return deny(hidden, ReasonUnknownTenant)
	}
	if !p.visible(r.Principal, r.Tenant) {
		return deny(hidden, ReasonNoRoleOnTenant)
	}
	if need == "" {
		return Decision{}
	}
	if !p.Holds(r.Principal, need, r.Tenant) {
		return Decision{Verdict: DenyPermission, Reason: ReasonMissingRole, Role: need}
	}
	q := p.Quotas[r.Tenant]
	quota := func(why DenyReason, scope, name, which string, limit int, retry time.Duration) Decision {
		return Decision{Verdict: DenyQuota, Reason: why, Quota: NewQuotaExceeded(scope, name, which, limit, retry)}
	}
	switch r.Action {
	case ActCreateKey:
		if q.Keys > 0 && r.Keys+max(r.Weight, 1) > q.Keys {
			return quota(ReasonQuotaKeys, "tenant", r.Tenant, QuotaKeys, q.Keys, 0)
		}
	case ActIssueHandle:
		if why := p.issuable(r); why != "" {
			return deny(DenyPermission, why)
		}
		if q.Handles > 0 && r.Handles >= q.Handles {
			return quota(ReasonQuotaHandles, "tenant", r.Tenant, QuotaHandles, q.Handles, 0)
		}
	case ActSign:
		if q.Sessions > 0 && r.Sessions >= q.Sessions {
			return quota(ReasonQuotaSessions, "tenant", r.Tenant, QuotaSessions, q.Sessions, sessionRetry)
		}
		if pq := p.Principals[r.Principal].Quota; pq != nil && pq.Sessions > 0 && r.PrincipalSessions >= pq.Sessions {
			return quota(ReasonQuotaSessions, "principal", r.Principal, QuotaSessions, pq.Sessions, sessionRetry)
		}
	}
	return Decision{}
}

// issuable returns why none of the principal's issuer grants on the
// tenant covers the handle's purpose and TTL, or "" when one does: grants
// add up, so a narrow grant on one tenant does not shadow a wide one on *.
func (p *Policy) issuable(r AuthRequest) DenyReason {
	why := ReasonMissingRole
	for _, g := range p.Principals[r.Principal].Roles {
		if g.Role != RoleIssuer || g.Tenant != r.Tenant && g.Tenant != AllTenants {
			continue
		}
		if len(g.Purposes) > 0 && !slices.Contains(g.Purposes, r.Purpose) {
			why = ReasonPurpose
			continue
		}
		if g.MaxTTL != "" {
			if d, err := time.ParseDuration(g.MaxTTL); err != nil || r.TTL > int64(d) {
				why = ReasonTTL
				continue
			}
		}
		return ""
	}
	return why
}

// visible reports whether principal holds any key role on tenant: only
// then may it learn which keys the tenant has. cluster-admin alone does
// not show keys.
func (p *Policy) visible(principal, tenant string) bool {
	for _, g := range p.Principals[principal].Roles {
		if g.Role != RoleClusterAdmin && (g.Tenant == tenant || g.Tenant == AllTenants) {
			return true
		}
	}
	return false
}

// ErrPermissionDenied is returned when the cluster policy does not grant
// the request's actor what it asked.
var ErrPermissionDenied = errors.New("permission denied")

// AuditScope says which audit records principal may read under p: all of
// them (a cluster-admin, or anyone under the open bootstrap policy), or
// the records of keys in the tenants it audits or administers keys of
// (auditor, key-admin). Records that name no key, or the cluster's audit
// key, are the cluster's own: cluster-admins only. denied reports a
// principal refused everything.
func (p *Policy) AuditScope(principal string) (all bool, tenants []string, denied bool) {
	if principal != "" && slices.Contains(p.Denied, principal) {
		return false, nil, true
	}
	if p.Open || p.Holds(principal, RoleClusterAdmin, AllTenants) {
		return true, nil, false
	}
	for _, t := range p.Tenants {
		if p.Holds(principal, RoleAuditor, t) || p.Holds(principal, RoleKeyAdmin, t) {
			tenants = append(tenants, t)
		}
	}
	return false, tenants, principal == ""
}
