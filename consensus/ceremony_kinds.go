package consensus

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// CeremonyKind names one kind of dangerous change a ceremony approves.
type CeremonyKind string

// The ceremony kinds; CeremonyKinds is their one table.
const (
	KindKeyDestroy      CeremonyKind = "key-destroy"
	KindKeyPolicy       CeremonyKind = "key-policy"
	KindPolicyChange    CeremonyKind = "policy-change"
	KindOperators       CeremonyKind = "operators"
	KindTenantCreate    CeremonyKind = "tenant-create"
	KindTenantDelete    CeremonyKind = "tenant-delete"
	KindDenyRemoval     CeremonyKind = "deny-removal"
	KindUnfreeze        CeremonyKind = "unfreeze"
	KindMembership      CeremonyKind = "membership"
	KindThreshold       CeremonyKind = "threshold"
	KindProtocolUpgrade CeremonyKind = "protocol-upgrade"
)

// ErrUnimplemented is returned for a ceremony kind whose operation does
// not exist in this build yet.
var ErrUnimplemented = errors.New("not implemented")

// CeremonyKindInfo is one row of the kinds table.
type CeremonyKindInfo struct {
	Kind CeremonyKind
	// Params says what the proposal carries, Executes what the executing
	// entry does.
	Params, Executes string
	// Implemented is false for a kind whose operation does not exist yet:
	// proposing one is refused with ErrUnimplemented.
	Implemented bool
}

// CeremonyKinds is the one table of ceremony kinds (docs/AUTHORITY.md
// shows the same).
func CeremonyKinds() []CeremonyKindInfo {
	return []CeremonyKindInfo{
		{KindKeyDestroy, "key, version, delay", "schedules the version's destruction, as `kq key destroy` did (the key's own rules hold: deletion_allowed, retired or revoked, the pending delay)", true},
		{KindKeyPolicy, "key and any of deletion_allowed, min_sign_version, min_verify_version", "sets the key's policy; needed to allow deletion or lower a floor (forbidding deletion and raising floors stay instant)", true},
		{KindPolicyChange, "the policy document (canonical JSON) and its SHA-256", "replaces the policy, if it changes no operator or quorum", true},
		{KindOperators, "the policy document and its SHA-256", "replaces the policy, changing operators or quorums, at the old quorum", true},
		{KindTenantCreate, "tenant", "adds the tenant to the policy", true},
		{KindTenantDelete, "tenant, force", "deletes the tenant (its keys destroyed, or with force due for destruction): its grants and quota leave the policy, its handles are revoked, every node shreds its data-encryption key", true},
		{KindDenyRemoval, "principal", "takes the principal off the deny-list (adding to it stays instant: kq principal revoke)", true},
		{KindUnfreeze, "none", "lets the cluster sign again after kq freeze", true},
		{KindMembership, "node to add, remove or replace", "not built yet: UNIMPLEMENTED", false},
		{KindThreshold, "key and new threshold", "not built yet: UNIMPLEMENTED", false},
		{KindProtocolUpgrade, "protocol version", "not built yet: UNIMPLEMENTED (the leader raises the protocol once every member supports it)", false},
	}
}

func ceremonyKind(k CeremonyKind) (CeremonyKindInfo, bool) {
	for _, info := range CeremonyKinds() {
		if info.Kind == k {
			return info, true
		}
	}
	return CeremonyKindInfo{}, false
}

// CeremonyKindNames lists the kinds' names in table order.
func CeremonyKindNames() []string {
	var out []string
	for _, info := range CeremonyKinds() {
		out = append(out, string(info.Kind))
	}
	return out
}

// The params of each kind; their JSON encoding, re-marshalled from the
// decoded struct, is the canonical form the digest covers.
type (
	// KeyDestroyParams schedules Key's Version for destruction after Delay.
	KeyDestroyParams struct {
		Key     string `json:"key"`
		Version uint32 `json:"version"`
		Delay   int64  `json:"delay"` // nanoseconds
	}
	// KeyPolicyParams sets a key's policy fields; nil leaves one as is.
	KeyPolicyParams struct {
		Key              string  `json:"key"`
		DeletionAllowed  *bool   `json:"deletion_allowed,omitempty"`
		MinSignVersion   *uint32 `json:"min_sign_version,omitempty"`
		MinVerifyVersion *uint32 `json:"min_verify_version,omitempty"`
	}
	// PolicyParams is a whole policy document, canonical, and its hash.
	PolicyParams struct {
		Document string `json:"document"`
		SHA256   string `json:"sha256"`
	}
	// TenantParams names a tenant.
	TenantParams struct {
		Tenant string `json:"tenant"`
		// Force (delete) destroys versions whose destruction is due.
		Force bool `json:"force,omitempty"`
	}
	// PrincipalParams names a principal.
	PrincipalParams struct {
		Principal string `json:"principal"`
	}
	// NoParams is the params of a kind that takes none.
	NoParams struct{}
)

// canonicalParams decodes a proposal's params for its kind, refusing
// unknown fields, and returns the canonical form and its SHA-256 (hex).
func canonicalParams(kind CeremonyKind, raw string) (any, string, string, error) {
	var v any
	switch kind {
	case KindKeyDestroy:
		v = &KeyDestroyParams{}
	case KindKeyPolicy:
		v = &KeyPolicyParams{}
	case KindPolicyChange, KindOperators:
		v = &PolicyParams{}
	case KindTenantCreate, KindTenantDelete:
		v = &TenantParams{}
	case KindDenyRemoval:
		v = &PrincipalParams{}
	case KindUnfreeze:
		v = &NoParams{}
	default:
		return nil, "", "", fmt.Errorf("%w: no params for kind %q", ErrInvalidCommand, kind)
	}
	if raw == "" {
		raw = "{}"
	}
	if err := strictJSON([]byte(raw), v); err != nil {
		return nil, "", "", fmt.Errorf("%w: params of %s: %w", ErrInvalidCommand, kind, err)
	}
	canon, err := json.Marshal(v)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: params of %s: %w", ErrInvalidCommand, kind, err)
	}
	sum := sha256.Sum256(canon)
	return v, string(canon), hex.EncodeToString(sum[:]), nil
}

// runCeremony does what an executed ceremony of this kind does, or, with
// dry set, checks that it could, changing nothing. It returns a note for
// the audit record (names only) and the key it changed, if any. Its
// errors are the preconditions of the kind.
func (f *FSM) runCeremony(index uint64, c *Ceremony, dry bool) (string, *Key, error) {
	params, _, _, err := canonicalParams(c.Kind, c.Params)
	if err != nil {
		return "", nil, err
	}
	switch p := params.(type) {
	case *KeyDestroyParams:
		k, err := f.ceremonyKey(p.Key, dry)
		if err != nil {
			return "", nil, err
		}
		if p.Version == 0 {
			return "", nil, fmt.Errorf("%w: key-destroy names no version", ErrInvalidCommand)
		}
		if _, err := f.scheduleDestroy(k, &ChangeKey{Op: OpDestroy, Key: p.Key, Version: p.Version, Delay: p.Delay}); err != nil {
			return "", nil, fmt.Errorf("destroy %q v%d: %w", p.Key, p.Version, err)
		}
		return fmt.Sprintf("%q v%d scheduled for destruction", p.Key, p.Version), k, nil
	case *KeyPolicyParams:
		k, err := f.ceremonyKey(p.Key, dry)
		if err != nil {
			return "", nil, err
		}
		if p.DeletionAllowed == nil && p.MinSignVersion == nil && p.MinVerifyVersion == nil {
			return "", nil, fmt.Errorf("%w: key-policy changes nothing", ErrInvalidCommand)
		}
		if err := f.setPolicy(k, &ChangeKey{Op: OpPolicy, Key: p.Key, DeletionAllowed: p.DeletionAllowed,
			MinSignVersion: p.MinSignVersion, MinVerifyVersion: p.MinVerifyVersion}); err != nil {
			return "", nil, fmt.Errorf("policy of %q: %w", p.Key, err)
		}
		return fmt.Sprintf("policy of %q set", p.Key), k, nil
	case *PolicyParams:
		next, err := f.ceremonyPolicyDoc(c.Kind, p)
		if err != nil {
			return "", nil, err
		}
		return f.ceremonyInstall(index, c, next, p.SHA256, dry)
	case *TenantParams:
		actor := "ceremony:" + c.ID
		if c.Kind == KindTenantCreate {
			note, err := f.TenantCreate(index, p.Tenant, actor, dry)
			return note, nil, err
		}
		note, err := f.TenantDelete(index, p.Tenant, p.Force, actor, dry)
		return note, nil, err
	case *PrincipalParams:
		next := f.policy().clone()
		if !slices.Contains(next.Denied, p.Principal) {
			return "", nil, fmt.Errorf("principal %q: %w: not on the deny-list", p.Principal, ErrBadTransition)
		}
		next.Denied = slices.DeleteFunc(next.Denied, func(d string) bool { return d == p.Principal })
		return f.ceremonyInstall(index, c, next, "", dry)
	case *NoParams: // unfreeze
		if f.st.Frozen == nil {
			return "", nil, fmt.Errorf("unfreeze: %w: the cluster is not frozen", ErrBadTransition)
		}
		if !dry {
			f.st.Frozen = nil
		}
		return "cluster unfrozen", nil, nil
	}
	return "", nil, fmt.Errorf("%w: kind %q", ErrUnimplemented, c.Kind)
}

// ceremonyKey returns the named key: on a dry run a copy, so the checks
// that mutate on success change nothing.
func (f *FSM) ceremonyKey(name string, dry bool) (*Key, error) {
	k, ok := f.st.Keys[name]
	if !ok || IsAuditKey(name) {
		return nil, fmt.Errorf("%q: %w", name, ErrUnknownKey)
	}
	if dry {
		return k.clone(), nil
	}
	return k, nil
}

// ceremonyPolicyDoc reads a policy-change or operators document, which
// must be valid and of its kind: only an operators ceremony changes
// operators or quorums.
func (f *FSM) ceremonyPolicyDoc(kind CeremonyKind, p *PolicyParams) (*Policy, error) {
	var next Policy
	if err := strictJSON([]byte(p.Document), &next); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidPolicy, err)
	}
	if next.Open {
		return nil, fmt.Errorf("%w: a document cannot be open", ErrInvalidPolicy)
	}
	if err := next.normalize(); err != nil {
		return nil, err
	}
	touches := changesCeremonies(f.policy(), &next)
	switch {
	case kind == KindPolicyChange && touches:
		return nil, fmt.Errorf("%w: the document changes operators or quorums (%s): propose kind %s", ErrInvalidCommand,
			strings.Join(ceremonyDiff(f.policy(), &next), "; "), KindOperators)
	case kind == KindOperators && !touches:
		return nil, fmt.Errorf("%w: the document changes no operator or quorum: propose kind %s", ErrInvalidCommand, KindPolicyChange)
	}
	return &next, nil
}

// ceremonyInstall installs next as the policy, or on a dry run checks it.
func (f *FSM) ceremonyInstall(index uint64, c *Ceremony, next *Policy, want string, dry bool) (string, *Key, error) {
	if err := next.normalize(); err != nil {
		return "", nil, err
	}
	_, hash, err := next.Canonical()
	if err != nil {
		return "", nil, err
	}
	if want != "" && want != hash {
		return "", nil, fmt.Errorf("%w: document hashes to %s, not %s", ErrInvalidPolicy, hash, want)
	}
	if dry {
		return "", nil, nil
	}
	res := f.installPolicy(index, next, want, "ceremony:"+c.ID)
	return res.Note, nil, res.Err
}
