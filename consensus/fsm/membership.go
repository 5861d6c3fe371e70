package fsm

import (
	"fmt"
	"iter"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// membershipCommands change the replicated membership and step members
// through it.
func membershipCommands() []commandSpec {
	return []commandSpec{
		spec[ChangeMembers](ProtocolV2),
		spec[MemberStep](ProtocolV2),
	}
}

// The replicated membership, its states and the rules of each step are
// package membership's; the entries below drive it, and the key table is
// its view of who holds what.

// Commands of membership.
const (
	// TypeChangeMembers starts adding, removing or replacing a node.
	TypeChangeMembers CommandType = "change_members"
	// TypeMemberStep moves a member to its next state.
	TypeMemberStep CommandType = "member_step"
)

// ChangeMembers starts a membership change: add New, remove Node, or
// replace Node by New (Op is membership.Add, Remove or Replace).
// Bootstrap is the leader's cluster.yaml nodes, used only when the table
// is still empty.
type ChangeMembers struct {
	Op        string              `json:"op"`
	Node      string              `json:"node,omitempty"`
	New       *membership.Member  `json:"new,omitempty"`
	Bootstrap []membership.Member `json:"bootstrap,omitempty"`
	Actor     string              `json:"actor"`
	Time      int64               `json:"time"`
}

// MemberStep moves Node from From to To; the leader's reconciler proposes
// it after doing the Raft side of the step before it (AddNonvoter before
// joining -> resharing) and before the one after it (AddVoter after
// resharing -> voter, RemoveServer before removing -> removed).
type MemberStep struct {
	Node string           `json:"node"`
	From membership.State `json:"from"`
	To   membership.State `json:"to"`
	Time int64            `json:"time"`
}

func (ChangeMembers) Type() CommandType   { return TypeChangeMembers }
func (c *ChangeMembers) Stamp(t int64)    { c.Time = t }
func (c *ChangeMembers) StampTime() int64 { return c.Time }
func (MemberStep) Type() CommandType      { return TypeMemberStep }
func (c *MemberStep) Stamp(t int64)       { c.Time = t }
func (c *MemberStep) StampTime() int64    { return c.Time }

// authorizeMembers decides who may change the membership directly: a
// cluster-admin, as for the policy, and only while the policy lists no
// operators. From then on a membership ceremony is the way, and its
// execution starts the change through startMembers, as this entry does.
func (f *FSM) authorizeMembers(c *ChangeMembers) error {
	if err := verdictErr(policy.Decide(f.policy(), f.request(c.Actor, policy.ActSetPolicy, "", nil)), "change members", ""); err != nil {
		return err
	}
	if f.policy().HasOperators() {
		return fmt.Errorf("%s members: %w: kind %s", c.Op, ErrCeremonyRequired, policy.KindMembership)
	}
	return nil
}

func (c *ChangeMembers) apply(f *FSM, _ uint64) Result {
	if err := f.authorizeMembers(c); err != nil {
		return Result{Err: err}
	}
	note, err := f.startMembers(membership.Change{Op: c.Op, Node: c.Node, New: c.New, Bootstrap: c.Bootstrap}, false)
	if err != nil {
		return Result{Err: err}
	}
	return Result{Note: note}
}

// startMembers starts the membership change c asks for: the one path of
// the direct entry and of an executed membership ceremony. With dry set it
// only checks that it could. It changes nothing when it returns an error.
func (f *FSM) startMembers(c membership.Change, dry bool) (string, error) {
	ms, note, err := f.st.Members.Start(c, f.st.Time, memberKeys(f.st.Keys), dry)
	if err != nil || dry {
		return "", err
	}
	f.st.Members = ms
	return note, nil
}

func (c *MemberStep) apply(f *FSM, _ uint64) Result {
	note, dup, err := f.st.Members.Step(c.Node, c.From, c.To, f.st.Time, memberKeys(f.st.Keys))
	return Result{Err: err, Duplicate: dup, Note: note}
}

// memberKeys is the key table as the membership reads it.
type memberKeys map[string]*Key

func (ks memberKeys) Thresholds() iter.Seq2[string, int] {
	return func(yield func(string, int) bool) {
		for _, k := range ks {
			if !yield(k.Name, k.Threshold) {
				return
			}
		}
	}
}

func (ks memberKeys) Holding(node string, holds bool) []string {
	var out []string
	for name, k := range ks {
		if keyHasShares(k) && k.HasMember(node) == holds {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// keyHasShares reports whether a key has a version whose shares matter: one
// that signs, or is being generated.
func keyHasShares(k *Key) bool {
	for _, v := range k.Versions {
		if v.State.CanSign() || v.State == KeyGenerating {
			return true
		}
	}
	return false
}

// Members returns a copy of the replicated membership, or nil while it is
// still the bootstrap set of cluster.yaml.
func (f *FSM) Members() map[string]membership.Member {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Members.Copy()
}

// HolderTarget returns the members every key's shares should be held by,
// sorted, or nil while the membership is the bootstrap set.
func (f *FSM) HolderTarget() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.st.Members == nil {
		return nil
	}
	return f.st.Members.Holders()
}

func (c *ChangeMembers) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func (c *MemberStep) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Reason = res.Note
	return []audit.Record{r}
}
