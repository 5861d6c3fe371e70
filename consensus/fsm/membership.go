package fsm

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/keyquorum/keyquorum/consensus/audit"
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

// Membership is replicated state. Until the first ChangeMembers the
// members are the bootstrap set of cluster.yaml, all voters; that entry
// carries the set (the leader fills it in) and from then on the table is
// the truth every node reads addresses and admission from.
//
// A change moves members through states, each step one entry, so a crash
// of any node at any step resumes from the state (the leader's membership
// reconciler, node/membership.go, drives it):
//
//	add:     joining -> resharing -> voter
//	remove:  voter -> removing -> removed
//	replace: both at once, the new node replacing the old one
//
// joining: in Raft as a non-voter, catching up. resharing: caught up; it is
// one of the holders every key is reshared to. voter: every key's shares
// include it (checked here, at the entry), and the leader makes it a Raft
// voter only after this entry applied. removing: no key is reshared to it
// any more; once no key holds it (and a node replacing it is a voter), the
// leader removes it from Raft and the entry marks it removed. One change
// runs at a time, so the cluster never drops below a quorum of voters.

// MemberState is where a member is in a membership change.
type MemberState string

// Member states.
const (
	MemberJoining   MemberState = "joining"
	MemberResharing MemberState = "resharing"
	MemberVoter     MemberState = "voter"
	MemberRemoving  MemberState = "removing"
	MemberRemoved   MemberState = "removed"
)

// Member is one node of the replicated membership.
type Member struct {
	ID     string      `json:"id"`
	State  MemberState `json:"state"`
	Raft   string      `json:"raft"`
	Peer   string      `json:"peer"`
	Client string      `json:"client"`
	// Replaces and ReplacedBy pair the two sides of a replace.
	Replaces   string `json:"replaces,omitempty"`
	ReplacedBy string `json:"replaced_by,omitempty"`
	// Since is the replicated time of the last state change.
	Since int64 `json:"since"`
}

// Commands of membership.
const (
	// TypeChangeMembers starts adding, removing or replacing a node.
	TypeChangeMembers CommandType = "change_members"
	// TypeMemberStep moves a member to its next state.
	TypeMemberStep CommandType = "member_step"
)

// Membership change operations.
const (
	MembersAdd     = "add"
	MembersRemove  = "remove"
	MembersReplace = "replace"
)

// ChangeMembers starts a membership change: add New, remove Node, or
// replace Node by New. Bootstrap is the leader's cluster.yaml nodes, used
// only when the table is still empty.
type ChangeMembers struct {
	Op        string   `json:"op"`
	Node      string   `json:"node,omitempty"`
	New       *Member  `json:"new,omitempty"`
	Bootstrap []Member `json:"bootstrap,omitempty"`
	Actor     string   `json:"actor"`
	Time      int64    `json:"time"`
}

// MemberStep moves Node from From to To; the leader's reconciler proposes
// it after doing the Raft side of the step before it (AddNonvoter before
// joining -> resharing) and before the one after it (AddVoter after
// resharing -> voter, RemoveServer before removing -> removed).
type MemberStep struct {
	Node string      `json:"node"`
	From MemberState `json:"from"`
	To   MemberState `json:"to"`
	Time int64       `json:"time"`
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
	note, err := f.startMembers(c, false)
	if err != nil {
		return Result{Err: err}
	}
	return Result{Note: note}
}

// startMembers starts the membership change c asks for: the one path of
// the direct entry and of an executed membership ceremony. With dry set it
// only checks that it could. It changes nothing when it returns an error.
func (f *FSM) startMembers(c *ChangeMembers, dry bool) (string, error) {
	ms := f.st.Members
	if ms == nil {
		if len(c.Bootstrap) == 0 {
			return "", fmt.Errorf("change members: %w: no bootstrap members", ErrInvalidCommand)
		}
		boot := map[string]*Member{}
		for _, m := range c.Bootstrap {
			if m.ID == "" || boot[m.ID] != nil {
				return "", fmt.Errorf("change members: %w: empty or repeated bootstrap member", ErrInvalidCommand)
			}
			mm := m
			mm.State, mm.Since = MemberVoter, f.st.Time
			boot[m.ID] = &mm
		}
		ms = boot
	} else if dry {
		ms = make(map[string]*Member, len(f.st.Members))
		for id, m := range f.st.Members {
			mm := *m
			ms[id] = &mm
		}
	}
	// A new table is checked on its own copy: a refused change leaves no
	// table behind.
	if err := f.startChange(ms, c); err != nil {
		return "", fmt.Errorf("change members: %w", err)
	}
	if dry {
		return "", nil
	}
	f.st.Members = ms
	return f.membersNote(), nil
}

// startChange checks a change against the table and applies it to ms. It
// changes nothing when it returns an error.
func (f *FSM) startChange(ms map[string]*Member, c *ChangeMembers) error {
	for _, m := range ms {
		if m.State != MemberVoter && m.State != MemberRemoved {
			return fmt.Errorf("%w: %s is %s; one membership change at a time", ErrBadTransition, m.ID, m.State)
		}
	}
	var add *Member
	if c.Op == MembersAdd || c.Op == MembersReplace {
		n := c.New
		switch {
		case n == nil || n.ID == "" || n.Raft == "" || n.Peer == "" || n.Client == "":
			return fmt.Errorf("%w: the new node needs an id and raft, peer and client addresses", ErrInvalidCommand)
		case ms[n.ID] != nil:
			return fmt.Errorf("%w: %s is already a member (%s); a removed id is not reused", ErrBadTransition, n.ID, ms[n.ID].State)
		}
		for _, m := range ms {
			if m.State != MemberRemoved && (m.Raft == n.Raft || m.Peer == n.Peer || m.Client == n.Client) {
				return fmt.Errorf("%w: an address of %s is %s's", ErrInvalidCommand, n.ID, m.ID)
			}
		}
		add = &Member{ID: n.ID, State: MemberJoining, Raft: n.Raft, Peer: n.Peer, Client: n.Client, Since: f.st.Time}
	}
	var remove *Member
	if c.Op == MembersRemove || c.Op == MembersReplace {
		remove = ms[c.Node]
		if remove == nil || remove.State != MemberVoter {
			return fmt.Errorf("%w: %s is not a voting member", ErrInvalidCommand, c.Node)
		}
		// Every key must keep more holders than its threshold.
		holders := 0
		for _, m := range ms {
			if m.State == MemberVoter && m.ID != c.Node {
				holders++
			}
		}
		if add != nil {
			holders++
		}
		for _, k := range f.st.Keys {
			if k.Threshold >= holders {
				return fmt.Errorf("%w: %q has threshold %d; %d holders would remain", ErrBadTransition, k.Name, k.Threshold, holders)
			}
		}
	}
	switch c.Op {
	case MembersAdd, MembersRemove, MembersReplace:
	default:
		return fmt.Errorf("%w: unknown membership op %q", ErrInvalidCommand, c.Op)
	}
	if remove != nil {
		remove.State, remove.Since = MemberRemoving, f.st.Time
	}
	if add != nil {
		if remove != nil {
			add.Replaces, remove.ReplacedBy = remove.ID, add.ID
		}
		ms[add.ID] = add
	}
	return nil
}

func (c *MemberStep) apply(f *FSM, _ uint64) Result {
	m := f.st.Members[c.Node]
	switch {
	case m == nil:
		return Result{Err: fmt.Errorf("member step %s: %w: not a member", c.Node, ErrInvalidCommand)}
	case m.State == c.To:
		return Result{Duplicate: true}
	case m.State != c.From:
		return Result{Err: fmt.Errorf("member step %s %s -> %s: %w: it is %s", c.Node, c.From, c.To, ErrStale, m.State)}
	}
	var err error
	switch {
	case c.From == MemberJoining && c.To == MemberResharing:
	case c.From == MemberResharing && c.To == MemberVoter:
		if missing := f.keysWithout(c.Node); len(missing) > 0 {
			err = fmt.Errorf("%w: the shares of %v do not include %s yet", ErrBadTransition, missing, c.Node)
		}
	case c.From == MemberRemoving && c.To == MemberRemoved:
		if held := f.keysWith(c.Node); len(held) > 0 {
			err = fmt.Errorf("%w: %s still holds the current shares of %v", ErrBadTransition, c.Node, held)
		} else if r := f.st.Members[m.ReplacedBy]; r != nil && r.State != MemberVoter {
			err = fmt.Errorf("%w: %s replacing it is %s, not a voter yet", ErrBadTransition, r.ID, r.State)
		}
	default:
		err = fmt.Errorf("%w: no step %s -> %s", ErrBadTransition, c.From, c.To)
	}
	if err != nil {
		return Result{Err: fmt.Errorf("member step %s: %w", c.Node, err)}
	}
	m.State, m.Since = c.To, f.st.Time
	if c.To == MemberVoter || c.To == MemberRemoved {
		// The pair of a replace is over once both sides are.
		if o := f.st.Members[m.Replaces]; o != nil && o.State == MemberRemoved {
			m.Replaces, o.ReplacedBy = "", ""
		}
		if o := f.st.Members[m.ReplacedBy]; o != nil && o.State == MemberVoter {
			m.ReplacedBy, o.Replaces = "", ""
		}
	}
	return Result{Note: fmt.Sprintf("%s %s -> %s", c.Node, c.From, c.To)}
}

// keysWithout returns the keys that can sign whose holders lack node.
func (f *FSM) keysWithout(node string) []string {
	var out []string
	for name, k := range f.st.Keys {
		if keyHasShares(k) && !k.HasMember(node) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// keysWith returns the keys that can sign whose holders include node.
func (f *FSM) keysWith(node string) []string {
	var out []string
	for name, k := range f.st.Keys {
		if keyHasShares(k) && k.HasMember(node) {
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

// holdsShares reports whether node is a member keys are reshared to.
func (f *FSM) holdsShares(node string) bool {
	m := f.st.Members[node]
	return m != nil && (m.State == MemberResharing || m.State == MemberVoter)
}

func (f *FSM) membersNote() string {
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(f.st.Members)) {
		parts = append(parts, id+"="+string(f.st.Members[id].State))
	}
	return "members " + strings.Join(parts, " ")
}

// Members returns a copy of the replicated membership, or nil while it is
// still the bootstrap set of cluster.yaml.
func (f *FSM) Members() map[string]Member {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.st.Members == nil {
		return nil
	}
	out := make(map[string]Member, len(f.st.Members))
	for id, m := range f.st.Members {
		out[id] = *m
	}
	return out
}

// HolderTarget returns the members every key's shares should be held by,
// sorted, or nil while the membership is the bootstrap set.
func (f *FSM) HolderTarget() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.st.Members == nil {
		return nil
	}
	var out []string
	for id := range f.st.Members {
		if f.holdsShares(id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func (c *ChangeMembers) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func (c *MemberStep) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Reason = res.Note
	return []audit.Record{r}
}
