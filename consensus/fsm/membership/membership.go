// Package membership is the replicated membership of the cluster and the
// rules of changing it.
//
// Until the first ChangeMembers the members are the bootstrap set of
// cluster.yaml, all voters; that entry carries the set (the leader fills
// it in) and from then on the Table is the truth every node reads
// addresses and admission from.
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
// include it (checked at the entry), and the leader makes it a Raft voter
// only after this entry applied. removing: no key is reshared to it any
// more; once no key holds it (and a node replacing it is a voter), the
// leader removes it from Raft and the entry marks it removed. One change
// runs at a time, so the cluster never drops below a quorum of voters.
//
// The package is pure, like the state machine that holds the table: time
// is the replicated time the caller passes in.
package membership

import (
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
)

// State is where a member is in a membership change.
type State string

// Member states.
const (
	Joining   State = "joining"
	Resharing State = "resharing"
	Voter     State = "voter"
	Removing  State = "removing"
	Removed   State = "removed"
)

// Member is one node of the replicated membership.
type Member struct {
	ID     string `json:"id"`
	State  State  `json:"state"`
	Raft   string `json:"raft"`
	Peer   string `json:"peer"`
	Client string `json:"client"`
	// Replaces and ReplacedBy pair the two sides of a replace.
	Replaces   string `json:"replaces,omitempty"`
	ReplacedBy string `json:"replaced_by,omitempty"`
	// Since is the replicated time of the last state change.
	Since int64 `json:"since"`
}

// Membership change operations.
const (
	Add     = "add"
	Remove  = "remove"
	Replace = "replace"
)

// Change is a membership change to start: add New, remove Node, or
// replace Node by New. Bootstrap is the leader's cluster.yaml nodes, used
// only while the table is still the bootstrap set.
type Change struct {
	Op        string
	Node      string
	New       *Member
	Bootstrap []Member
}

// Keys is the membership's view of the key table.
type Keys interface {
	// Thresholds yields each key's name and threshold, in any order.
	Thresholds() iter.Seq2[string, int]
	// Holding returns, sorted, the keys that can sign (a version that
	// signs or is being generated) whose holders include node, or, with
	// holds false, lack it.
	Holding(node string, holds bool) []string
}

// Table is the replicated membership by node id; nil while it is the
// bootstrap set of cluster.yaml. It is a map, so a snapshot holds it
// exactly as the table it replaced.
type Table map[string]*Member

// Check refuses a table decoded from a snapshot with a null or misnamed
// member.
func (t Table) Check() error {
	for id, m := range t {
		if m == nil || m.ID != id {
			return fmt.Errorf("member %q is null or misnamed", id)
		}
	}
	return nil
}

// Start starts the change c asks for at replicated time now and returns
// the table to keep (a new one when t is still the bootstrap set) and the
// note for the audit record. With dry set it only checks that it could,
// on a copy. It changes nothing when it returns an error: a new table is
// checked on its own copy, so a refused change leaves no table behind.
func (t Table) Start(c Change, now int64, keys Keys, dry bool) (Table, string, error) {
	ms := t
	if ms == nil {
		if len(c.Bootstrap) == 0 {
			return nil, "", fmt.Errorf("change members: %w: no bootstrap members", fsmerr.ErrInvalidCommand)
		}
		boot := Table{}
		for _, m := range c.Bootstrap {
			if m.ID == "" || boot[m.ID] != nil {
				return nil, "", fmt.Errorf("change members: %w: empty or repeated bootstrap member", fsmerr.ErrInvalidCommand)
			}
			mm := m
			mm.State, mm.Since = Voter, now
			boot[m.ID] = &mm
		}
		ms = boot
	} else if dry {
		ms = make(Table, len(t))
		for id, m := range t {
			mm := *m
			ms[id] = &mm
		}
	}
	if err := ms.start(c, now, keys); err != nil {
		return nil, "", fmt.Errorf("change members: %w", err)
	}
	if dry {
		return t, "", nil
	}
	return ms, ms.Note(), nil
}

// start checks a change against the table and applies it. It changes
// nothing when it returns an error.
func (t Table) start(c Change, now int64, keys Keys) error {
	for _, m := range t {
		if m.State != Voter && m.State != Removed {
			return fmt.Errorf("%w: %s is %s; one membership change at a time", fsmerr.ErrBadTransition, m.ID, m.State)
		}
	}
	var add *Member
	if c.Op == Add || c.Op == Replace {
		n := c.New
		switch {
		case n == nil || n.ID == "" || n.Raft == "" || n.Peer == "" || n.Client == "":
			return fmt.Errorf("%w: the new node needs an id and raft, peer and client addresses", fsmerr.ErrInvalidCommand)
		case t[n.ID] != nil:
			return fmt.Errorf("%w: %s is already a member (%s); a removed id is not reused", fsmerr.ErrBadTransition, n.ID, t[n.ID].State)
		}
		for _, m := range t {
			if m.State != Removed && (m.Raft == n.Raft || m.Peer == n.Peer || m.Client == n.Client) {
				return fmt.Errorf("%w: an address of %s is %s's", fsmerr.ErrInvalidCommand, n.ID, m.ID)
			}
		}
		add = &Member{ID: n.ID, State: Joining, Raft: n.Raft, Peer: n.Peer, Client: n.Client, Since: now}
	}
	var remove *Member
	if c.Op == Remove || c.Op == Replace {
		remove = t[c.Node]
		if remove == nil || remove.State != Voter {
			return fmt.Errorf("%w: %s is not a voting member", fsmerr.ErrInvalidCommand, c.Node)
		}
		// Every key must keep more holders than its threshold.
		holders := 0
		for _, m := range t {
			if m.State == Voter && m.ID != c.Node {
				holders++
			}
		}
		if add != nil {
			holders++
		}
		for name, threshold := range keys.Thresholds() {
			if threshold >= holders {
				return fmt.Errorf("%w: %q has threshold %d; %d holders would remain", fsmerr.ErrBadTransition, name, threshold, holders)
			}
		}
	}
	switch c.Op {
	case Add, Remove, Replace:
	default:
		return fmt.Errorf("%w: unknown membership op %q", fsmerr.ErrInvalidCommand, c.Op)
	}
	if remove != nil {
		remove.State, remove.Since = Removing, now
	}
	if add != nil {
		if remove != nil {
			add.Replaces, remove.ReplacedBy = remove.ID, add.ID
		}
		t[add.ID] = add
	}
	return nil
}

// Step moves node from from to to at replicated time now, once the
// step's condition holds: a member becomes a voter only when every key's
// shares include it, and is removed only when no key's current shares
// include it and a node replacing it is a voter. A member already at to
// is a duplicate; one that is neither at from nor at to is stale.
func (t Table) Step(node string, from, to State, now int64, keys Keys) (note string, duplicate bool, err error) {
	m := t[node]
	switch {
	case m == nil:
		return "", false, fmt.Errorf("member step %s: %w: not a member", node, fsmerr.ErrInvalidCommand)
	case m.State == to:
		return "", true, nil
	case m.State != from:
		return "", false, fmt.Errorf("member step %s %s -> %s: %w: it is %s", node, from, to, fsmerr.ErrStale, m.State)
	}
	switch {
	case from == Joining && to == Resharing:
	case from == Resharing && to == Voter:
		if missing := keys.Holding(node, false); len(missing) > 0 {
			err = fmt.Errorf("%w: the shares of %v do not include %s yet", fsmerr.ErrBadTransition, missing, node)
		}
	case from == Removing && to == Removed:
		if held := keys.Holding(node, true); len(held) > 0 {
			err = fmt.Errorf("%w: %s still holds the current shares of %v", fsmerr.ErrBadTransition, node, held)
		} else if r := t[m.ReplacedBy]; r != nil && r.State != Voter {
			err = fmt.Errorf("%w: %s replacing it is %s, not a voter yet", fsmerr.ErrBadTransition, r.ID, r.State)
		}
	default:
		err = fmt.Errorf("%w: no step %s -> %s", fsmerr.ErrBadTransition, from, to)
	}
	if err != nil {
		return "", false, fmt.Errorf("member step %s: %w", node, err)
	}
	m.State, m.Since = to, now
	if to == Voter || to == Removed {
		// The pair of a replace is over once both sides are.
		if o := t[m.Replaces]; o != nil && o.State == Removed {
			m.Replaces, o.ReplacedBy = "", ""
		}
		if o := t[m.ReplacedBy]; o != nil && o.State == Voter {
			m.ReplacedBy, o.Replaces = "", ""
		}
	}
	return fmt.Sprintf("%s %s -> %s", node, from, to), false, nil
}

// Keep marks removed, at replicated time now, every member not in ids
// that is not removed yet, and returns them sorted: a forced recovery of
// the raft configuration left them out.
func (t Table) Keep(ids []string, now int64) []string {
	var removed []string
	for _, id := range slices.Sorted(maps.Keys(t)) {
		if m := t[id]; !slices.Contains(ids, id) && m.State != Removed {
			m.State, m.Since = Removed, now
			removed = append(removed, id)
		}
	}
	return removed
}

// HoldsShares reports whether node is a member keys are reshared to.
func (t Table) HoldsShares(node string) bool {
	m := t[node]
	return m != nil && (m.State == Resharing || m.State == Voter)
}

// Holders returns the members every key's shares should be held by,
// sorted.
func (t Table) Holders() []string {
	var out []string
	for id := range t {
		if t.HoldsShares(id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Note lists every member's state, for the audit record.
func (t Table) Note() string {
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(t)) {
		parts = append(parts, id+"="+string(t[id].State))
	}
	return "members " + strings.Join(parts, " ")
}

// Copy returns a copy of the table by value, or nil while it is the
// bootstrap set.
func (t Table) Copy() map[string]Member {
	if t == nil {
		return nil
	}
	out := make(map[string]Member, len(t))
	for id, m := range t {
		out[id] = *m
	}
	return out
}
