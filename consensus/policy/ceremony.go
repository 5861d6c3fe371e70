package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/keyquorum/keyquorum/consensus/audit"
)

// The policy's part in ceremonies: who the operators are and how many of
// them each kind of ceremony needs. An operator is a principal name with
// an Ed25519 approval key the operator keeps: the cluster holds only the
// public half, and it is not an mTLS key, so a stolen client certificate
// alone cannot approve anything.

// Operator is one operator's entry in the policy.
type Operator struct {
	// PublicKey is the approval key in its text form, "ed25519:<base64>",
	// as `kq operator keygen` prints it.
	PublicKey string `json:"public_key" yaml:"public_key"`
}

// CeremonyRules are the quorums. A kind without a rule needs
// DefaultQuorum approvals from any listed operator.
type CeremonyRules struct {
	DefaultQuorum int `json:"default_quorum"`
	// ProposerCounts lets the proposer's own approval count; by default it
	// does not (separation of duties).
	ProposerCounts bool                      `json:"proposer_counts,omitempty"`
	Kinds          map[CeremonyKind]KindRule `json:"kinds,omitempty"`
}

// KindRule is one kind's quorum and, optionally, the operators who may
// approve it (empty: every operator).
type KindRule struct {
	Quorum    int      `json:"quorum,omitempty" yaml:"quorum"`
	Approvers []string `json:"approvers,omitempty" yaml:"approvers"`
}

// DefaultCeremonyQuorum is the quorum of every kind the policy says
// nothing about.
const DefaultCeremonyQuorum = 2

// maxOperators bounds the operator list (and so a proposal's audit record).
const maxOperators = 64

// UnmarshalYAML reads the file form: default_quorum and proposer_counts
// beside one key per kind, `{default_quorum: 2, key-destroy: {quorum: 3}}`.
// The stored JSON keeps the kinds under "kinds", which a file may use too.
func (r *CeremonyRules) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: ceremonies must be a mapping", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		var err error
		switch k.Value {
		case "default_quorum":
			err = v.Decode(&r.DefaultQuorum)
		case "proposer_counts":
			err = v.Decode(&r.ProposerCounts)
		case "kinds":
			if v.Kind != yaml.MappingNode {
				return fmt.Errorf("line %d: ceremonies.kinds must be a mapping", v.Line)
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				if err := r.addKind(v.Content[j].Value, v.Content[j+1]); err != nil {
					return err
				}
			}
		default:
			err = r.addKind(k.Value, v)
		}
		if err != nil {
			return fmt.Errorf("ceremonies.%s: %w", k.Value, err)
		}
	}
	return nil
}

func (r *CeremonyRules) addKind(name string, v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: ceremonies.%.40s must be {quorum: N, approvers: [...]}", v.Line, name)
	}
	for i := 0; i < len(v.Content); i += 2 {
		if f := v.Content[i].Value; f != "quorum" && f != "approvers" {
			return fmt.Errorf("line %d: ceremonies.%.40s: unknown field %.40q (quorum, approvers)", v.Line, name, f)
		}
	}
	var rule KindRule
	if err := v.Decode(&rule); err != nil {
		return err
	}
	if r.Kinds == nil {
		r.Kinds = map[CeremonyKind]KindRule{}
	}
	if _, dup := r.Kinds[CeremonyKind(name)]; dup {
		return fmt.Errorf("kind %.40s given twice", name)
	}
	r.Kinds[CeremonyKind(name)] = rule
	return nil
}

// normalizeCeremonies fills defaults and sorts, so equal rules hash
// equally, and validates operators and quorums. A policy without
// operators and rules keeps both absent, and so its old hash.
func (p *Policy) normalizeCeremonies() error {
	if len(p.Operators) == 0 {
		p.Operators = nil
	}
	if p.Ceremonies == nil {
		if p.Operators == nil {
			return nil
		}
		p.Ceremonies = &CeremonyRules{}
	}
	r := p.Ceremonies
	if r.DefaultQuorum == 0 {
		r.DefaultQuorum = DefaultCeremonyQuorum
	}
	if len(r.Kinds) == 0 {
		r.Kinds = nil
	}
	for kind, rule := range r.Kinds {
		rule.Approvers = sortedSet(rule.Approvers)
		r.Kinds[kind] = rule
	}
	return p.validateCeremonies()
}

func (p *Policy) validateCeremonies() error {
	if len(p.Operators) > maxOperators {
		return fmt.Errorf("%w: at most %d operators", ErrInvalid, maxOperators)
	}
	keys := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(p.Operators)) {
		if !principalPattern.MatchString(name) {
			return fmt.Errorf("%w: operator %.70q: use a principal name (1-63 lower-case letters, digits, '.', '_' or '-')", ErrInvalid, name)
		}
		k := p.Operators[name].PublicKey
		if _, err := audit.ParseApprovalKey(k); err != nil {
			return fmt.Errorf("%w: operator %s: %w", ErrInvalid, name, err)
		}
		// One key, one operator: a shared key would count twice.
		if other, dup := keys[k]; dup {
			return fmt.Errorf("%w: operators %s and %s share an approval key", ErrInvalid, other, name)
		}
		keys[k] = name
	}
	r := p.Ceremonies
	if r == nil {
		return nil
	}
	if r.DefaultQuorum < 1 {
		return fmt.Errorf("%w: ceremonies.default_quorum must be at least 1", ErrInvalid)
	}
	for _, kind := range slices.Sorted(maps.Keys(r.Kinds)) {
		rule := r.Kinds[kind]
		if _, ok := KindInfo(kind); !ok {
			return fmt.Errorf("%w: ceremonies: unknown kind %.40q (kinds: %s)", ErrInvalid, kind, strings.Join(CeremonyKindNames(), ", "))
		}
		if rule.Quorum < 0 {
			return fmt.Errorf("%w: ceremonies.%s.quorum is negative", ErrInvalid, kind)
		}
		for _, a := range rule.Approvers {
			if _, ok := p.Operators[a]; !ok {
				return fmt.Errorf("%w: ceremonies.%s.approvers names %.70q, who is not an operator", ErrInvalid, kind, a)
			}
		}
	}
	if len(p.Operators) == 0 {
		return nil
	}
	for _, info := range CeremonyKinds() {
		group, k := p.CeremonyRule(info.Kind)
		if k > len(group) {
			return fmt.Errorf("%w: ceremonies.%s needs %d approvals from a group of %d operators", ErrInvalid, info.Kind, k, len(group))
		}
	}
	return nil
}

// CeremonyRule returns the approver group (sorted names) and quorum of a
// kind under the policy.
func (p *Policy) CeremonyRule(kind CeremonyKind) ([]string, int) {
	group := slices.Sorted(maps.Keys(p.Operators))
	if p.Ceremonies == nil {
		return group, DefaultCeremonyQuorum
	}
	k := p.Ceremonies.DefaultQuorum
	if rule, ok := p.Ceremonies.Kinds[kind]; ok {
		if rule.Quorum > 0 {
			k = rule.Quorum
		}
		if len(rule.Approvers) > 0 {
			group = rule.Approvers
		}
	}
	return group, k
}

// HasOperators reports whether the policy lists operators: from then on
// every dangerous change needs a ceremony.
func (p *Policy) HasOperators() bool { return len(p.Operators) > 0 }

// CeremonyDiff says what changes in operators and quorums from a to b.
func CeremonyDiff(a, b *Policy) []string {
	var parts []string
	was, is := slices.Sorted(maps.Keys(a.Operators)), slices.Sorted(maps.Keys(b.Operators))
	var d []string
	for _, x := range is {
		if !slices.Contains(was, x) {
			d = append(d, "+"+x)
		} else if a.Operators[x] != b.Operators[x] {
			d = append(d, "~"+x)
		}
	}
	for _, x := range was {
		if !slices.Contains(is, x) {
			d = append(d, "-"+x)
		}
	}
	if len(d) > 0 {
		parts = append(parts, "operators "+strings.Join(d, ","))
	}
	if !ceremonyRulesEqual(a.Ceremonies, b.Ceremonies) {
		parts = append(parts, "ceremony quorums changed")
	}
	return parts
}

func ceremonyRulesEqual(a, b *CeremonyRules) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.DefaultQuorum == b.DefaultQuorum && a.ProposerCounts == b.ProposerCounts &&
		maps.EqualFunc(a.Kinds, b.Kinds, func(x, y KindRule) bool { return x.Quorum == y.Quorum && slices.Equal(x.Approvers, y.Approvers) })
}

// ChangesCeremonies reports whether b differs from a in operators or
// quorums, which only an `operators` ceremony may change.
func ChangesCeremonies(a, b *Policy) bool { return len(CeremonyDiff(a, b)) > 0 }

// ImpliedQuorum is the quorum a policy document needs beyond its own
// kind's: the old quorum of every kind whose change it makes. Changing
// who approves a kind, or how many must, needs that kind's old quorum, so
// operators who could not destroy a key cannot first lower key-destroy's
// quorum, or add operators to its group, and then destroy it; taking a
// principal or a certificate serial off the deny-list needs deny-removal's, adding or removing a
// tenant tenant-create's or tenant-delete's.
func ImpliedQuorum(old, next *Policy) int {
	k := 0
	need := func(kind CeremonyKind) {
		_, q := old.CeremonyRule(kind)
		k = max(k, q)
	}
	counts := func(p *Policy) bool { return p.Ceremonies != nil && p.Ceremonies.ProposerCounts }
	for _, info := range CeremonyKinds() {
		g0, q0 := old.CeremonyRule(info.Kind)
		g1, q1 := next.CeremonyRule(info.Kind)
		keys := func(p *Policy, g []string) []string {
			out := make([]string, len(g))
			for i, name := range g {
				out[i] = name + "=" + p.Operators[name].PublicKey
			}
			return out
		}
		if q0 != q1 || counts(old) != counts(next) || !slices.Equal(keys(old, g0), keys(next, g1)) {
			need(info.Kind)
		}
	}
	if slices.ContainsFunc(old.Denied, func(d string) bool { return !slices.Contains(next.Denied, d) }) ||
		slices.ContainsFunc(old.DeniedSerials, func(d string) bool { return !slices.Contains(next.DeniedSerials, d) }) {
		need(KindDenyRemoval) // a certificate taken off the deny-list as much as a principal
	}
	if slices.ContainsFunc(next.Tenants, func(t string) bool { return !slices.Contains(old.Tenants, t) }) {
		need(KindTenantCreate)
	}
	if slices.ContainsFunc(old.Tenants, func(t string) bool { return !slices.Contains(next.Tenants, t) }) {
		need(KindTenantDelete)
	}
	return k
}
