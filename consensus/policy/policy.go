package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The cluster policy says who may do what to which tenant's keys. It is a
// document in the replicated state: YAML in, canonical JSON stored,
// identified by the SHA-256 of that JSON and versioned. Every replica
// decides a request at its entry's index from the policy in force there
// (Decide), so a forwarded call is judged as its caller everywhere.
//
// Until a SetPolicy applies, the cluster runs the bootstrap policy: open,
// every client may do everything, as before policies existed, except the
// principals on its deny-list. Once a policy is set, what it does not
// grant is denied.

// Role is what a principal may do on one tenant (or "*", every tenant).
type Role string

// The roles.
const (
	// RoleKeyAdmin creates keys and changes their lifecycle and policy.
	RoleKeyAdmin Role = "key-admin"
	// RoleIssuer issues and revokes handles, optionally only for some
	// purposes and up to a TTL.
	RoleIssuer Role = "issuer"
	// RoleSigner signs, with a handle.
	RoleSigner Role = "signer"
	// RoleAuditor reads keys' metadata.
	RoleAuditor Role = "auditor"
	// RoleClusterAdmin changes the policy and the deny-list; always on "*".
	RoleClusterAdmin Role = "cluster-admin"
)

var knownRoles = []Role{RoleKeyAdmin, RoleIssuer, RoleSigner, RoleAuditor, RoleClusterAdmin}

// AllTenants is the scope of a grant on every tenant.
const AllTenants = "*"

// DefaultTenant is the tenant of a key named without one.
const DefaultTenant = "default"

// BootstrapAdmin is the principal `kq certs init` mints; a policy file
// that does not name it keeps it cluster-admin on every tenant, so a file
// cannot lock the cluster out by accident.
const BootstrapAdmin = "admin"

// Policy is the cluster policy document in its canonical form: tenants,
// principals and lists sorted, defaults filled in. Its JSON encoding is
// the canonical one its hash covers.
type Policy struct {
	// Open marks the bootstrap policy: every principal not denied may do
	// everything. Only the FSM makes one (a deny-list entry before any
	// policy was set); a file cannot ask for it.
	Open    bool     `json:"open,omitempty"`
	Tenants []string `json:"tenants"`
	// Principals maps a principal's name (the <name> of
	// spiffe://<cluster>/client/<name>) to its grants.
	Principals map[string]Principal `json:"principals"`
	// SeparationOfDuties lists role pairs no principal may hold together
	// on one tenant.
	SeparationOfDuties [][2]Role `json:"separation_of_duties"`
	// Quotas bound each tenant; a tenant without one is bounded only by
	// the cluster's limits.
	Quotas map[string]Quota `json:"quotas,omitempty"`
	// Denied is the deny-list: principals refused everything at once.
	Denied []string `json:"denied,omitempty"`
	// DeniedSerials is the deny-list of client certificates by serial
	// number (CanonicalSerial): a leaked certificate refused without
	// refusing its principal's other certificates.
	DeniedSerials []string `json:"denied_serials,omitempty"`
	// Operators and Ceremonies configure quorum ceremonies
	// (ceremony.go); absent, dangerous changes need none.
	Operators  map[string]Operator `json:"operators,omitempty"`
	Ceremonies *CeremonyRules      `json:"ceremonies,omitempty"`
}

// Principal is one principal's grants.
type Principal struct {
	Roles []Grant `json:"roles" yaml:"roles"`
	// Quota bounds the principal itself, across tenants: only
	// sign_per_second and sessions apply to a principal.
	Quota *Quota `json:"quota,omitempty" yaml:"quota"`
}

// Grant is one role on one tenant.
type Grant struct {
	Role   Role   `json:"role" yaml:"role"`
	Tenant string `json:"tenant" yaml:"tenant"`
	// Purposes and MaxTTL narrow an issuer: handles only for these
	// purposes (empty: any of the key's) and no longer than MaxTTL
	// (empty: the cluster's limit). MaxTTL is a Go duration, normalised.
	Purposes []string `json:"purposes,omitempty" yaml:"purposes"`
	MaxTTL   string   `json:"max_ttl,omitempty" yaml:"max_ttl"`
}

// Quota bounds one tenant (or, for SignPerSecond and Sessions, one
// principal); 0 leaves a dimension unbounded. Keys is a key weight (an
// ECDSA key counts KeyWeight), Handles counts live handles, Sessions
// pending signing requests: all three are decided in the FSM.
// SignPerSecond is a token bucket on the leader, before the log. Presigs
// bounds the presignatures (pending and ready) of all the tenant's ECDSA
// keys together: decided in the FSM at each PresignRequested, and asked
// by the leader before it proposes a refill.
type Quota struct {
	Keys          int `json:"keys,omitempty" yaml:"keys"`
	Handles       int `json:"handles,omitempty" yaml:"handles"`
	SignPerSecond int `json:"sign_per_second,omitempty" yaml:"sign_per_second"`
	Sessions      int `json:"sessions,omitempty" yaml:"sessions"`
	Presigs       int `json:"presigs,omitempty" yaml:"presigs"`
}

// DefaultSeparationOfDuties is the rule of a document that states none.
var defaultSoD = [][2]Role{{RoleIssuer, RoleSigner}, {RoleAuditor, RoleKeyAdmin}}

// ErrInvalid is returned for a policy document that is malformed or
// breaks one of its own rules; such a document is refused whole.
var ErrInvalid = errors.New("invalid policy")

// Bounds of one policy document.
const (
	maxPolicyBytes      = 256 << 10
	maxPolicyTenants    = 1024
	maxPolicyPrincipals = 4096
	maxGrants           = 64
)

var (
	tenantPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	principalPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	// serialPattern is a certificate serial in canonical form: lower-case
	// hex without leading zeros, at most 20 bytes (RFC 5280).
	serialPattern = regexp.MustCompile(`^(0|[1-9a-f][0-9a-f]{0,39})$`)
)

// CanonicalSerial returns a certificate serial number, written in hex
// (either case, optionally with colons or a 0x prefix, as openssl and
// browsers print them), in the one form the deny-list holds: lower-case
// hex without leading zeros.
func CanonicalSerial(s string) (string, error) {
	c := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	c = strings.TrimPrefix(c, "0x")
	if c != "" {
		if c = strings.TrimLeft(c, "0"); c == "" {
			c = "0"
		}
	}
	if !serialPattern.MatchString(c) {
		return "", fmt.Errorf("%w: certificate serial %.70q: use hex, at most 20 bytes", ErrInvalid, s)
	}
	return c, nil
}

// ValidTenant reports whether name can be a tenant's.
func ValidTenant(name string) bool { return tenantPattern.MatchString(name) }

// ValidPrincipal reports whether name can be a principal's.
func ValidPrincipal(name string) bool { return principalPattern.MatchString(name) }

// ValidSerial reports whether s is a certificate serial in canonical form
// (CanonicalSerial).
func ValidSerial(s string) bool { return serialPattern.MatchString(s) }

// policyFile is the YAML a user writes; SeparationOfDuties is a pointer so
// that an absent rule (the default pairs) differs from an empty one.
type policyFile struct {
	Tenants            []string             `yaml:"tenants"`
	Principals         map[string]Principal `yaml:"principals"`
	SeparationOfDuties *[][]Role            `yaml:"separation_of_duties"`
	Quotas             map[string]Quota     `yaml:"quotas"`
	Denied             []string             `yaml:"denied"`
	DeniedSerials      []string             `yaml:"denied_serials"`
	Operators          map[string]Operator  `yaml:"operators"`
	Ceremonies         *CeremonyRules       `yaml:"ceremonies"`
}

// Parse reads a policy document (YAML, or JSON, which is YAML) and
// returns it normalised and validated. Unknown fields are refused.
func Parse(doc []byte) (*Policy, error) {
	if len(doc) > maxPolicyBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, maxPolicyBytes)
	}
	var f policyFile
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	p := &Policy{Tenants: f.Tenants, Principals: f.Principals, Quotas: f.Quotas, Denied: f.Denied, Operators: f.Operators, Ceremonies: f.Ceremonies}
	for _, s := range f.DeniedSerials {
		c, err := CanonicalSerial(s)
		if err != nil {
			return nil, err
		}
		p.DeniedSerials = append(p.DeniedSerials, c)
	}
	if f.SeparationOfDuties == nil {
		p.SeparationOfDuties = slices.Clone(defaultSoD)
	} else {
		for _, pair := range *f.SeparationOfDuties {
			if len(pair) != 2 {
				return nil, fmt.Errorf("%w: separation_of_duties: %v is not a pair of roles", ErrInvalid, pair)
			}
			p.SeparationOfDuties = append(p.SeparationOfDuties, [2]Role{pair[0], pair[1]})
		}
	}
	if _, named := p.Principals[BootstrapAdmin]; !named {
		if p.Principals == nil {
			p.Principals = map[string]Principal{}
		}
		p.Principals[BootstrapAdmin] = Principal{Roles: []Grant{{Role: RoleClusterAdmin, Tenant: AllTenants}}}
	}
	if err := p.Normalize(); err != nil {
		return nil, err
	}
	return p, nil
}

// Normalize sorts and de-duplicates every list, so that two documents
// meaning the same have the same canonical JSON, and validates the result.
func (p *Policy) Normalize() error {
	if !slices.Contains(p.Tenants, DefaultTenant) {
		p.Tenants = append(p.Tenants, DefaultTenant) // bare key names live there
	}
	p.Tenants = sortedSet(p.Tenants)
	p.Denied = sortedSet(p.Denied)
	p.DeniedSerials = sortedSet(p.DeniedSerials)
	if p.Principals == nil {
		p.Principals = map[string]Principal{}
	}
	for i, pair := range p.SeparationOfDuties {
		if pair[0] > pair[1] {
			p.SeparationOfDuties[i] = [2]Role{pair[1], pair[0]}
		}
	}
	slices.SortFunc(p.SeparationOfDuties, func(a, b [2]Role) int {
		return strings.Compare(string(a[0])+" "+string(a[1]), string(b[0])+" "+string(b[1]))
	})
	p.SeparationOfDuties = slices.Compact(p.SeparationOfDuties)
	if p.SeparationOfDuties == nil {
		p.SeparationOfDuties = [][2]Role{}
	}
	for name, pr := range p.Principals {
		for i := range pr.Roles {
			g := &pr.Roles[i]
			if g.Tenant == "" || g.Role == RoleClusterAdmin {
				if g.Role == RoleClusterAdmin && g.Tenant != "" && g.Tenant != AllTenants {
					return fmt.Errorf("%w: %s: cluster-admin is cluster-wide, its tenant must be %q", ErrInvalid, name, AllTenants)
				}
				g.Tenant = AllTenants
			}
			g.Purposes = sortedSet(g.Purposes)
			if g.MaxTTL != "" {
				d, err := time.ParseDuration(g.MaxTTL)
				if err != nil || d <= 0 {
					return fmt.Errorf("%w: %s: max_ttl %q is not a positive duration", ErrInvalid, name, g.MaxTTL)
				}
				g.MaxTTL = d.String()
			}
		}
		if pr.Quota != nil && *pr.Quota == (Quota{}) {
			pr.Quota = nil // no bound at all is no quota: one canonical form
		}
		slices.SortFunc(pr.Roles, func(a, b Grant) int {
			return strings.Compare(a.Tenant+" "+string(a.Role), b.Tenant+" "+string(b.Role))
		})
		p.Principals[name] = pr
	}
	if err := p.normalizeCeremonies(); err != nil {
		return err
	}
	return p.validate()
}

// validate checks names, references, the document's own separation of
// duties and that some principal not denied stays cluster-admin.
func (p *Policy) validate() error {
	if len(p.Tenants) > maxPolicyTenants || len(p.Principals) > maxPolicyPrincipals {
		return fmt.Errorf("%w: at most %d tenants and %d principals", ErrInvalid, maxPolicyTenants, maxPolicyPrincipals)
	}
	for _, t := range p.Tenants {
		if !ValidTenant(t) {
			return fmt.Errorf("%w: tenant %.40q: use 1-32 lower-case letters, digits, '_' or '-'", ErrInvalid, t)
		}
	}
	for _, pair := range p.SeparationOfDuties {
		for _, r := range pair {
			if !slices.Contains(knownRoles, r) {
				return fmt.Errorf("%w: separation_of_duties names unknown role %.40q", ErrInvalid, r)
			}
		}
		if pair[0] == pair[1] {
			return fmt.Errorf("%w: separation_of_duties pairs %s with itself", ErrInvalid, pair[0])
		}
	}
	for t := range p.Quotas {
		if !slices.Contains(p.Tenants, t) {
			return fmt.Errorf("%w: quota for unknown tenant %.40q", ErrInvalid, t)
		}
		if q := p.Quotas[t]; q.Keys < 0 || q.Handles < 0 || q.SignPerSecond < 0 || q.Sessions < 0 || q.Presigs < 0 {
			return fmt.Errorf("%w: quota for %s: negative", ErrInvalid, t)
		}
	}
	for _, d := range p.Denied {
		if !principalPattern.MatchString(d) {
			return fmt.Errorf("%w: denied principal %.70q is not a principal name", ErrInvalid, d)
		}
	}
	for _, s := range p.DeniedSerials {
		if !serialPattern.MatchString(s) {
			return fmt.Errorf("%w: denied serial %.70q is not canonical lower-case hex", ErrInvalid, s)
		}
	}
	admins := 0
	for _, name := range slices.Sorted(maps.Keys(p.Principals)) {
		if err := p.validatePrincipal(name); err != nil {
			return err
		}
		if p.Holds(name, RoleClusterAdmin, AllTenants) && !slices.Contains(p.Denied, name) {
			admins++
		}
	}
	if admins == 0 && !p.Open {
		return fmt.Errorf("%w: no principal (not denied) is cluster-admin: the policy could never be changed again", ErrInvalid)
	}
	return nil
}

func (p *Policy) validatePrincipal(name string) error {
	pr := p.Principals[name]
	if !principalPattern.MatchString(name) {
		return fmt.Errorf("%w: principal %.70q: use 1-63 lower-case letters, digits, '.', '_' or '-'", ErrInvalid, name)
	}
	if q := pr.Quota; q != nil {
		switch {
		case q.Keys != 0 || q.Handles != 0 || q.Presigs != 0:
			return fmt.Errorf("%w: %s: a principal's quota bounds sign_per_second and sessions only; keys, handles and presigs are tenants' quotas", ErrInvalid, name)
		case q.SignPerSecond < 0 || q.Sessions < 0:
			return fmt.Errorf("%w: %s: quota: negative", ErrInvalid, name)
		}
	}
	if len(pr.Roles) > maxGrants {
		return fmt.Errorf("%w: %s has more than %d grants", ErrInvalid, name, maxGrants)
	}
	for i, g := range pr.Roles {
		switch {
		case !slices.Contains(knownRoles, g.Role):
			return fmt.Errorf("%w: %s: unknown role %.40q (roles: key-admin, issuer, signer, auditor, cluster-admin)", ErrInvalid, name, g.Role)
		case g.Tenant != AllTenants && !slices.Contains(p.Tenants, g.Tenant):
			return fmt.Errorf("%w: %s: %s on unknown tenant %.40q", ErrInvalid, name, g.Role, g.Tenant)
		case g.Role != RoleIssuer && (len(g.Purposes) > 0 || g.MaxTTL != ""):
			return fmt.Errorf("%w: %s: purposes and max_ttl narrow an issuer only, not %s", ErrInvalid, name, g.Role)
		case i > 0 && pr.Roles[i-1].Role == g.Role && pr.Roles[i-1].Tenant == g.Tenant:
			return fmt.Errorf("%w: %s holds %s on %s twice", ErrInvalid, name, g.Role, g.Tenant)
		}
	}
	// A grant on "*" counts on every tenant, so check each tenant.
	for _, t := range p.Tenants {
		for _, pair := range p.SeparationOfDuties {
			if p.Holds(name, pair[0], t) && p.Holds(name, pair[1], t) {
				return fmt.Errorf("%w: %s holds both %s and %s on tenant %s, which separation_of_duties forbids", ErrInvalid, name, pair[0], pair[1], t)
			}
		}
	}
	return nil
}

// grant returns principal's grant of role on tenant (directly or on "*").
func (p *Policy) grant(principal string, role Role, tenant string) (Grant, bool) {
	for _, g := range p.Principals[principal].Roles {
		if g.Role == role && (g.Tenant == tenant || g.Tenant == AllTenants) {
			return g, true
		}
	}
	return Grant{}, false
}

// Holds reports whether principal holds role on tenant (directly or on "*").
func (p *Policy) Holds(principal string, role Role, tenant string) bool {
	_, ok := p.grant(principal, role, tenant)
	return ok
}

// Canonical returns the policy's canonical JSON and its SHA-256 in hex.
func (p *Policy) Canonical() ([]byte, string, error) {
	data, err := json.Marshal(p)
	if err != nil {
		return nil, "", fmt.Errorf("consensus: encode policy: %w", err)
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:]), nil
}

// Clone returns a deep copy of p, through its canonical JSON; nil if p
// cannot be encoded.
func (p *Policy) Clone() *Policy {
	data, _, err := p.Canonical()
	if err != nil {
		return nil
	}
	var c Policy
	if json.Unmarshal(data, &c) != nil {
		return nil
	}
	return &c
}

// TenantOf returns the tenant of a key name: the part before "/", or the
// default tenant for a bare name.
func TenantOf(key string) string {
	if t, _, ok := strings.Cut(key, "/"); ok {
		return t
	}
	return DefaultTenant
}

// PrincipalOf returns the principal an actor names when it is a client
// identity, spiffe://<cluster>/client/<name>.
func PrincipalOf(actor string) (string, bool) {
	rest, ok := strings.CutPrefix(actor, "spiffe://")
	if !ok {
		return "", false
	}
	_, path, ok := strings.Cut(rest, "/")
	if !ok {
		return "", false
	}
	name, ok := strings.CutPrefix(path, "client/")
	if !ok || !principalPattern.MatchString(name) {
		return "", false
	}
	return name, true
}

func sortedSet(s []string) []string {
	out := slices.Compact(slices.Sorted(slices.Values(s)))
	if len(out) == 0 {
		return nil
	}
	return out
}
