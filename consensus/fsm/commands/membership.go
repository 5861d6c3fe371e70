package commands

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/authz"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// membershipCommands change the replicated membership and step members
// through it.
func membershipCommands() []commandSpec {
	return []commandSpec{
		spec(protover.V2, applyChangeMembers, recordsChangeMembers),
		spec(protover.V2, applyMemberStep, recordsMemberStep),
	}
}

// The replicated membership, its states and the rules of each step are
// package membership's; the entries below drive it, and the key table
// (keys.Table) is its view of who holds what.

// authorizeMembers decides who may change the membership directly: a
// cluster-admin, as for the policy, and only while the policy lists no
// operators. From then on a membership ceremony is the way, and its
// execution starts the change through startMembers, as this entry does.
func (f *Machine) authorizeMembers(c *entry.ChangeMembers) error {
	if err := authz.Admin(f.policy(), c.Actor, "", "change members", ""); err != nil {
		return err
	}
	if f.policy().HasOperators() {
		return fmt.Errorf("%s members: %w: kind %s", c.Op, ceremony.ErrRequired, policy.KindMembership)
	}
	return nil
}

func applyChangeMembers(f *Machine, c *entry.ChangeMembers, _ uint64) Result {
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
func (f *Machine) startMembers(c membership.Change, dry bool) (string, error) {
	ms, note, err := f.st.Members.Start(c, f.st.Time, f.st.Keys, dry)
	if err != nil || dry {
		return "", err
	}
	f.st.Members = ms
	return note, nil
}

func applyMemberStep(f *Machine, c *entry.MemberStep, _ uint64) Result {
	note, dup, err := f.st.Members.Step(c.Node, c.From, c.To, f.st.Time, f.st.Keys)
	return Result{Err: err, Duplicate: dup, Note: note}
}

func recordsChangeMembers(_ *Machine, c *entry.ChangeMembers, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func recordsMemberStep(_ *Machine, c *entry.MemberStep, res Result, r audit.Record) []audit.Record {
	r.Reason = res.Note
	return []audit.Record{r}
}
