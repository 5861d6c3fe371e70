package model

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Roles as the cluster policy spells them.
const (
	RoleKeyAdmin     = "key-admin"
	RoleIssuer       = "issuer"
	RoleSigner       = "signer"
	RoleAuditor      = "auditor"
	RoleClusterAdmin = "cluster-admin"
)

// Grant is one role of a principal on one tenant ("*": every tenant).
type Grant struct {
	Role, Tenant string
}

// Authority is the policy the authz workload applies, read as the rules
// of docs/AUTHORITY.md for the requests the workload sends: a key-admin of
// the key's tenant creates, an issuer issues handles, a signer signs (with
// a handle issued for that key), any role but cluster-admin reads; nothing
// else is granted, and a principal with no role on a tenant is answered
// as if its keys did not exist. Handles and the deny-list are judged by
// the authz check, which sees the whole history.
type Authority struct {
	Tenants    []string
	Principals map[string][]Grant
}

// TenantOf returns the tenant of a key name: the part before "/", or
// "default" for a bare name.
func TenantOf(key string) string {
	if t, _, ok := strings.Cut(key, "/"); ok {
		return t
	}
	return "default"
}

func (a Authority) holds(principal, role, tenant string) bool {
	for _, g := range a.Principals[principal] {
		if g.Role == role && (g.Tenant == tenant || g.Tenant == "*") {
			return true
		}
	}
	return false
}

// Visible reports whether principal may learn which keys tenant has: any
// role on it but cluster-admin.
func (a Authority) Visible(principal, tenant string) bool {
	for _, g := range a.Principals[principal] {
		if g.Role != RoleClusterAdmin && (g.Tenant == tenant || g.Tenant == "*") {
			return true
		}
	}
	return false
}

// roleFor is the role an operation needs; "" for a read, which any
// visible role allows.
func roleFor(k Kind) string {
	switch k {
	case Create, Rotate, Promote, Rollback, Retire, Revoke:
		return RoleKeyAdmin
	case IssueHandle:
		return RoleIssuer
	case Sign:
		return RoleSigner
	}
	return ""
}

// Allows reports whether the policy grants in's principal in on its key's
// tenant, before handles and the deny-list are considered. A List is
// allowed to everyone: it shows each principal the keys it may see.
func (a Authority) Allows(in Input) bool {
	switch in.Kind {
	case List:
		return true
	case RevokePrincipal:
		return a.holds(in.Principal, RoleClusterAdmin, "*")
	}
	t := TenantOf(in.Key)
	if !slices.Contains(a.Tenants, t) || !a.Visible(in.Principal, t) {
		return false
	}
	need := roleFor(in.Kind)
	return need == "" || a.holds(in.Principal, need, t)
}

// Hidden reports whether a refusal of in must read as an unknown key
// (NOT_FOUND): its principal has no role on the key's tenant, and the key
// already exists for those who may see it. A create is refused as
// PERMISSION_DENIED: the name is the caller's own.
func (a Authority) Hidden(in Input) bool {
	return in.Kind != Create && in.Kind != List && in.Kind != RevokePrincipal && !a.Visible(in.Principal, TenantOf(in.Key))
}

// YAML is the policy file `kq policy apply` takes. The separation of
// duties is the default one (issuer+signer, key-admin+auditor).
func (a Authority) YAML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tenants: [%s]\nprincipals:\n", strings.Join(a.Tenants, ", "))
	names := slices.Sorted(maps.Keys(a.Principals))
	for _, p := range names {
		var roles []string
		for _, g := range a.Principals[p] {
			roles = append(roles, fmt.Sprintf("{role: %s, tenant: %q}", g.Role, g.Tenant))
		}
		fmt.Fprintf(&b, "  %s: {roles: [%s]}\n", p, strings.Join(roles, ", "))
	}
	return b.String()
}
