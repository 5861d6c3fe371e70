package fsm

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// ErrUnimplemented is returned for a ceremony kind whose operation does
// not exist in this build yet.
var ErrUnimplemented = errors.New("not implemented")

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
	// MembershipParams adds New, removes Node, or replaces Node by New
	// (Op is MembersAdd, MembersRemove or MembersReplace).
	MembershipParams struct {
		Op   string     `json:"op"`
		Node string     `json:"node,omitempty"`
		New  *NewMember `json:"new,omitempty"`
	}
	// NewMember is a node joining: its id and addresses.
	NewMember struct {
		ID     string `json:"id"`
		Raft   string `json:"raft"`
		Peer   string `json:"peer"`
		Client string `json:"client"`
	}
	// ThresholdParams reshares Key's Version (0: the primary) to Threshold.
	ThresholdParams struct {
		Key       string `json:"key"`
		Version   uint32 `json:"version,omitempty"`
		Threshold int    `json:"threshold"`
	}
	// ProtocolParams raises the active protocol to Version.
	ProtocolParams struct {
		Version uint32 `json:"version"`
	}
)

// CeremonyContext is what the leader that appends a proposal or approval
// adds for the change to run: the choices the direct path's leader makes
// as well (the bootstrap members, the live holders and dealers of a
// reshare, the configuration's members), which operators do not sign.
// The entry that executes the ceremony checks them as the direct entry
// checks its own.
type CeremonyContext struct {
	// Bootstrap is cluster.yaml's nodes, for a membership change while the
	// replicated membership is still the bootstrap set.
	Bootstrap []membership.Member `json:"bootstrap,omitempty"`
	// Holders and Committee are a threshold change's new holders (the
	// key's holders the leader reaches) and its dealers.
	Holders   []string `json:"holders,omitempty"`
	Committee []string `json:"committee,omitempty"`
	// Members is the configuration's members, every one of which must
	// support a protocol-upgrade's version.
	Members []string `json:"members,omitempty"`
}

// maxProtocolParam bounds a protocol-upgrade's version: far above any
// version a build will have, it only keeps nonsense out.
const maxProtocolParam = 1 << 10

// canonicalParams decodes a proposal's params for its kind, refusing
// unknown fields, and returns the canonical form and its SHA-256 (hex).
func canonicalParams(kind policy.CeremonyKind, raw string) (any, string, string, error) {
	var v any
	switch kind {
	case policy.KindKeyDestroy:
		v = &KeyDestroyParams{}
	case policy.KindKeyPolicy:
		v = &KeyPolicyParams{}
	case policy.KindPolicyChange, policy.KindOperators:
		v = &PolicyParams{}
	case policy.KindTenantCreate, policy.KindTenantDelete:
		v = &TenantParams{}
	case policy.KindDenyRemoval:
		v = &PrincipalParams{}
	case policy.KindUnfreeze:
		v = &NoParams{}
	case policy.KindMembership:
		v = &MembershipParams{}
	case policy.KindThreshold:
		v = &ThresholdParams{}
	case policy.KindProtocolUpgrade:
		v = &ProtocolParams{}
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

// ran is what an executed ceremony did: a note for the audit record
// (names only), and the key and version it changed, if any.
type ran struct {
	note    string
	key     *Key
	version uint32
}

// runCeremony does what an executed ceremony of this kind does, or, with
// dry set, checks that it could, changing nothing. ctx is the leader's
// context of the entry (nil when it added none). Its errors are the
// preconditions of the kind.
func (f *FSM) runCeremony(index uint64, c *Ceremony, ctx *CeremonyContext, dry bool) (ran, error) {
	params, _, _, err := canonicalParams(c.Kind, c.Params)
	if err != nil {
		return ran{}, err
	}
	if ctx == nil {
		ctx = &CeremonyContext{}
	}
	switch p := params.(type) {
	case *KeyDestroyParams:
		k, err := f.ceremonyKey(p.Key, dry)
		if err != nil {
			return ran{}, err
		}
		if p.Version == 0 {
			return ran{}, fmt.Errorf("%w: key-destroy names no version", ErrInvalidCommand)
		}
		if _, err := k.ScheduleDestroy(p.Version, p.Delay, int64(f.cfg.MinDestroyDelay), f.st.Time); err != nil {
			return ran{}, fmt.Errorf("destroy %q v%d: %w", p.Key, p.Version, err)
		}
		return ran{note: fmt.Sprintf("%q v%d scheduled for destruction", p.Key, p.Version), key: k}, nil
	case *KeyPolicyParams:
		k, err := f.ceremonyKey(p.Key, dry)
		if err != nil {
			return ran{}, err
		}
		if p.DeletionAllowed == nil && p.MinSignVersion == nil && p.MinVerifyVersion == nil {
			return ran{}, fmt.Errorf("%w: key-policy changes nothing", ErrInvalidCommand)
		}
		if err := k.SetFloors(0, p.MinSignVersion, p.MinVerifyVersion, p.DeletionAllowed); err != nil {
			return ran{}, fmt.Errorf("policy of %q: %w", p.Key, err)
		}
		return ran{note: fmt.Sprintf("policy of %q set", p.Key), key: k}, nil
	case *PolicyParams:
		next, err := f.ceremonyPolicyDoc(c.Kind, p)
		if err != nil {
			return ran{}, err
		}
		return f.ceremonyInstall(index, c, next, p.SHA256, dry)
	case *TenantParams:
		actor := "ceremony:" + c.ID
		var note string
		if c.Kind == policy.KindTenantCreate {
			note, err = f.TenantCreate(index, p.Tenant, actor, dry)
		} else {
			note, err = f.TenantDelete(index, p.Tenant, p.Force, actor, dry)
		}
		return ran{note: note}, err
	case *PrincipalParams:
		next := f.policy().Clone()
		if !slices.Contains(next.Denied, p.Principal) {
			return ran{}, fmt.Errorf("principal %q: %w: not on the deny-list", p.Principal, ErrBadTransition)
		}
		next.Denied = slices.DeleteFunc(next.Denied, func(d string) bool { return d == p.Principal })
		return f.ceremonyInstall(index, c, next, "", dry)
	case *NoParams: // unfreeze
		if f.st.Frozen == nil {
			return ran{}, fmt.Errorf("unfreeze: %w: the cluster is not frozen", ErrBadTransition)
		}
		if !dry {
			f.st.Frozen = nil
		}
		return ran{note: "cluster unfrozen"}, nil
	case *MembershipParams:
		cm := &ChangeMembers{Op: p.Op, Node: p.Node, Bootstrap: ctx.Bootstrap, Actor: "ceremony:" + c.ID}
		if p.New != nil {
			cm.New = &membership.Member{ID: p.New.ID, Raft: p.New.Raft, Peer: p.New.Peer, Client: p.New.Client}
		}
		note, err := f.startMembers(cm, dry)
		return ran{note: note}, err
	case *ThresholdParams:
		return f.ceremonyReshare(index, c, p, ctx, dry)
	case *ProtocolParams:
		return f.ceremonyRaise(c, p, ctx, dry)
	}
	return ran{}, fmt.Errorf("%w: kind %q", ErrUnimplemented, c.Kind)
}

// ceremonyReshare starts a threshold change: the reshare `kq key reshare
// --threshold` starts, to the holders and dealers the leader put in ctx.
// A dry run (the proposal) checks it against the key's holders.
func (f *FSM) ceremonyReshare(index uint64, c *Ceremony, p *ThresholdParams, ctx *CeremonyContext, dry bool) (ran, error) {
	k, err := f.ceremonyKey(p.Key, dry)
	if err != nil {
		return ran{}, err
	}
	if p.Threshold == k.Threshold {
		return ran{}, fmt.Errorf("threshold of %q: %w: it is %d already (a refresh at the same threshold needs no ceremony: kq key reshare)", p.Key, ErrBadTransition, k.Threshold)
	}
	rk := &ReshareKey{RequestID: c.ID, Key: k.Name, Version: p.Version, Threshold: p.Threshold,
		Members: ctx.Holders, Committee: ctx.Committee, Reason: "ceremony " + c.ID, Actor: "ceremony:" + c.ID}
	if dry && len(rk.Members) == 0 {
		rk.Members = k.Members
		rk.Committee = k.Members[:min(len(k.Members), k.Threshold+1)]
	}
	if len(rk.Members) == 0 || len(rk.Committee) == 0 {
		return ran{}, fmt.Errorf("threshold of %q: %w: the approval carries no holders and dealers to reshare with", p.Key, ErrInvalidCommand)
	}
	v, note, err := f.startReshare(index, k, rk)
	if err != nil {
		return ran{}, fmt.Errorf("threshold of %q: %w", p.Key, err)
	}
	return ran{note: note, key: k, version: v}, nil
}

// ceremonyRaise raises the active protocol, as the leader's RaiseProtocol
// does without operators: to a version every member of the configuration
// (ctx.Members, the leader's view, as in RaiseProtocol) reported it
// supports. The checks read only replicated state, so every replica
// reaches the same verdict whatever its build.
func (f *FSM) ceremonyRaise(c *Ceremony, p *ProtocolParams, ctx *CeremonyContext, dry bool) (ran, error) {
	cur := f.st.protocol()
	switch {
	case p.Version > maxProtocolParam:
		return ran{}, fmt.Errorf("raise protocol to %d: %w: no such version", p.Version, ErrInvalidCommand)
	case p.Version <= cur:
		return ran{}, fmt.Errorf("raise protocol to %d: %w: the cluster runs %d already", p.Version, ErrBadTransition, cur)
	case dry:
		return ran{}, nil
	case len(ctx.Members) == 0:
		return ran{}, fmt.Errorf("raise protocol to %d: %w: the approval names no members", p.Version, ErrInvalidCommand)
	}
	for _, m := range ctx.Members {
		if s := max(f.st.Supports[m], ProtocolV1); s < p.Version {
			return ran{}, fmt.Errorf("raise protocol to %d: %w: %s supports up to %d", p.Version, ErrBadTransition, m, s)
		}
	}
	if p.Version > MaxProtocol {
		// Every member reported a build that has it; this replica's does
		// not. It stops here, as it stops at the entry of an automatic
		// raise, rather than apply on under a protocol it cannot read.
		return ran{}, f.halt(fmt.Errorf("consensus: ceremony %s raises the protocol to %d, this build supports up to %d: %w", c.ID, p.Version, MaxProtocol, ErrUnsupportedProtocol))
	}
	f.st.Protocol = p.Version
	return ran{note: fmt.Sprintf("protocol %d -> %d", cur, p.Version), version: p.Version}, nil
}

// ceremonyKey returns the named key: on a dry run a copy, so the checks
// that mutate on success change nothing.
func (f *FSM) ceremonyKey(name string, dry bool) (*Key, error) {
	k, ok := f.st.Keys[name]
	if !ok || IsAuditKey(name) {
		return nil, fmt.Errorf("%q: %w", name, ErrUnknownKey)
	}
	if dry {
		return k.Clone(), nil
	}
	return k, nil
}

// ceremonyPolicyDoc reads a policy-change or operators document, which
// must be valid and of its kind: only an operators ceremony changes
// operators or quorums.
func (f *FSM) ceremonyPolicyDoc(kind policy.CeremonyKind, p *PolicyParams) (*policy.Policy, error) {
	var next policy.Policy
	if err := strictJSON([]byte(p.Document), &next); err != nil {
		return nil, fmt.Errorf("%w: %w", policy.ErrInvalid, err)
	}
	if next.Open {
		return nil, fmt.Errorf("%w: a document cannot be open", policy.ErrInvalid)
	}
	if err := next.Normalize(); err != nil {
		return nil, err
	}
	if err := f.checkTenantsKept(&next); err != nil {
		return nil, err
	}
	touches := policy.ChangesCeremonies(f.policy(), &next)
	switch {
	case kind == policy.KindPolicyChange && touches:
		return nil, fmt.Errorf("%w: the document changes operators or quorums (%s): propose kind %s", ErrInvalidCommand,
			strings.Join(policy.CeremonyDiff(f.policy(), &next), "; "), policy.KindOperators)
	case kind == policy.KindOperators && !touches:
		return nil, fmt.Errorf("%w: the document changes no operator or quorum: propose kind %s", ErrInvalidCommand, policy.KindPolicyChange)
	}
	return &next, nil
}

// ceremonyInstall installs next as the policy, or on a dry run checks it.
func (f *FSM) ceremonyInstall(index uint64, c *Ceremony, next *policy.Policy, want string, dry bool) (ran, error) {
	if err := next.Normalize(); err != nil {
		return ran{}, err
	}
	_, hash, err := next.Canonical()
	if err != nil {
		return ran{}, err
	}
	if want != "" && want != hash {
		return ran{}, fmt.Errorf("%w: document hashes to %s, not %s", policy.ErrInvalid, hash, want)
	}
	if dry {
		return ran{}, nil
	}
	res := f.installPolicy(index, next, want, "ceremony:"+c.ID)
	return ran{note: res.Note}, res.Err
}
