package ceremony

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
	"github.com/keyquorum/keyquorum/consensus/fsm/inforce"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/fsm/strictjson"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

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
	// (Op is membership.Add, Remove or Replace).
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

// Context is what the leader that appends a proposal or approval adds for
// the change to run: the choices the direct path's leader makes as well
// (the bootstrap members, the live holders and dealers of a reshare, the
// configuration's members), which operators do not sign. The entry that
// executes the ceremony checks them as the direct entry checks its own.
type Context struct {
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

// ParseParams decodes a proposal's params for its kind, refusing unknown
// fields, and returns the canonical form and its SHA-256 (hex).
func ParseParams(kind policy.CeremonyKind, raw string) (any, string, string, error) {
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
		return nil, "", "", fmt.Errorf("%w: no params for kind %q", fsmerr.ErrInvalidCommand, kind)
	}
	if raw == "" {
		raw = "{}"
	}
	if err := strictjson.Decode([]byte(raw), v); err != nil {
		return nil, "", "", fmt.Errorf("%w: params of %s: %w", fsmerr.ErrInvalidCommand, kind, err)
	}
	canon, err := json.Marshal(v)
	if err != nil {
		return nil, "", "", fmt.Errorf("%w: params of %s: %w", fsmerr.ErrInvalidCommand, kind, err)
	}
	sum := sha256.Sum256(canon)
	return v, string(canon), hex.EncodeToString(sum[:]), nil
}

// maxProtocolParam bounds a protocol-upgrade's version: far above any
// version a build will have, it only keeps nonsense out.
const maxProtocolParam = 1 << 10

// Check refuses a protocol-upgrade that names nonsense or a version the
// cluster, running cur, is at already.
func (p *ProtocolParams) Check(cur uint32) error {
	switch {
	case p.Version > maxProtocolParam:
		return fmt.Errorf("raise protocol to %d: %w: no such version", p.Version, fsmerr.ErrInvalidCommand)
	case p.Version <= cur:
		return fmt.Errorf("raise protocol to %d: %w: the cluster runs %d already", p.Version, fsmerr.ErrBadTransition, cur)
	}
	return nil
}

// Change is the membership change of a membership ceremony, with the
// leader's bootstrap members.
func (p *MembershipParams) Change(bootstrap []membership.Member) membership.Change {
	c := membership.Change{Op: p.Op, Node: p.Node, Bootstrap: bootstrap}
	if p.New != nil {
		c.New = &membership.Member{ID: p.New.ID, Raft: p.New.Raft, Peer: p.New.Peer, Client: p.New.Client}
	}
	return c
}

// PolicyDocument reads a policy-change or operators document, which must
// be valid, not open, kept by kept (the state machine's check that no
// tenant disappears), and of its kind: only an operators ceremony changes
// operators or quorums of cur, the policy in force.
func PolicyDocument(kind policy.CeremonyKind, cur *policy.Policy, p *PolicyParams, kept func(*policy.Policy) error) (*policy.Policy, error) {
	next, err := inforce.ParseDocument(p.Document)
	if err != nil {
		return nil, err
	}
	if err := kept(next); err != nil {
		return nil, err
	}
	touches := policy.ChangesCeremonies(cur, next)
	switch {
	case kind == policy.KindPolicyChange && touches:
		return nil, fmt.Errorf("%w: the document changes operators or quorums (%s): propose kind %s", fsmerr.ErrInvalidCommand,
			strings.Join(policy.CeremonyDiff(cur, next), "; "), policy.KindOperators)
	case kind == policy.KindOperators && !touches:
		return nil, fmt.Errorf("%w: the document changes no operator or quorum: propose kind %s", fsmerr.ErrInvalidCommand, policy.KindPolicyChange)
	}
	return next, nil
}

// PolicyKind names the ceremony kind a policy document needs under cur:
// operators when it changes operators or quorums, deny-removal when all
// it changes is taking principals off the deny-list, else policy-change.
func PolicyKind(cur *policy.Policy, doc string) policy.CeremonyKind {
	var next policy.Policy
	if strictjson.Decode([]byte(doc), &next) != nil || next.Normalize() != nil {
		return policy.KindPolicyChange
	}
	if policy.ChangesCeremonies(cur, &next) {
		return policy.KindOperators
	}
	if d := cur.Clone(); slices.ContainsFunc(d.Denied, func(p string) bool { return !slices.Contains(next.Denied, p) }) {
		d.Denied = slices.Clone(next.Denied)
		if dn, nn, err := canonicalPair(d, &next); err == nil && dn == nn {
			return policy.KindDenyRemoval
		}
	}
	return policy.KindPolicyChange
}

// canonicalPair returns the hashes of a and b.
func canonicalPair(a, b *policy.Policy) (string, string, error) {
	if err := a.Normalize(); err != nil {
		return "", "", err
	}
	_, ha, err := a.Canonical()
	if err != nil {
		return "", "", err
	}
	_, hb, err := b.Canonical()
	return ha, hb, err
}

// Facts is what a summary reads of the rest of the replicated state.
type Facts interface {
	// PolicyDiff describes what a document of kind changes in the policy
	// in force; false when the document is not valid for kind.
	PolicyDiff(kind policy.CeremonyKind, p *PolicyParams) (string, bool)
	// KeyShape returns a key's threshold and number of holders.
	KeyShape(name string) (threshold, holders int, ok bool)
	// Protocol returns the active protocol version.
	Protocol() uint32
}

// Summarize says in words what the ceremony will do, for its audit record
// and for approvers: names and numbers, never secrets.
func (c *Ceremony) Summarize(facts Facts) string {
	params, _, _, err := ParseParams(c.Kind, c.Params)
	if err != nil {
		return string(c.Kind)
	}
	switch p := params.(type) {
	case *KeyDestroyParams:
		return fmt.Sprintf("destroy %q v%d after %s", p.Key, p.Version, time.Duration(p.Delay))
	case *KeyPolicyParams:
		s := fmt.Sprintf("set policy of %q:", p.Key)
		if p.DeletionAllowed != nil {
			s += fmt.Sprintf(" deletion_allowed=%t", *p.DeletionAllowed)
		}
		if p.MinSignVersion != nil {
			s += fmt.Sprintf(" min_sign_version=%d", *p.MinSignVersion)
		}
		if p.MinVerifyVersion != nil {
			s += fmt.Sprintf(" min_verify_version=%d", *p.MinVerifyVersion)
		}
		return s
	case *PolicyParams:
		diff, ok := facts.PolicyDiff(c.Kind, p)
		if !ok {
			return fmt.Sprintf("replace the policy with sha256 %s", p.SHA256)
		}
		return fmt.Sprintf("replace the policy with sha256 %s: %s", p.SHA256, diff)
	case *TenantParams:
		return fmt.Sprintf("%s %q", c.Kind, p.Tenant)
	case *PrincipalParams:
		return fmt.Sprintf("take %q off the deny-list", p.Principal)
	case *MembershipParams:
		switch {
		case p.Op == membership.Remove:
			return fmt.Sprintf("remove node %q", p.Node)
		case p.New == nil:
			return fmt.Sprintf("%s node", p.Op)
		case p.Op == membership.Replace:
			return fmt.Sprintf("replace node %q by %q (raft %s, peer %s, client %s)", p.Node, p.New.ID, p.New.Raft, p.New.Peer, p.New.Client)
		}
		return fmt.Sprintf("add node %q (raft %s, peer %s, client %s)", p.New.ID, p.New.Raft, p.New.Peer, p.New.Client)
	case *ThresholdParams:
		s := fmt.Sprintf("reshare %q", p.Key)
		if p.Version != 0 {
			s += fmt.Sprintf(" v%d", p.Version)
		}
		if t, holders, ok := facts.KeyShape(p.Key); ok {
			s += fmt.Sprintf(": threshold %d -> %d (%d holders)", t, p.Threshold, holders)
		}
		return s
	case *ProtocolParams:
		return fmt.Sprintf("raise the protocol %d -> %d (no downgrade after)", facts.Protocol(), p.Version)
	}
	return string(c.Kind)
}
