package fsm_test

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
)

func bootstrapMembers(ids ...string) []membership.Member {
	var out []membership.Member
	for i, id := range ids {
		out = append(out, membership.Member{ID: id, Raft: addr(7100, i), Peer: addr(7200, i), Client: addr(7300, i)})
	}
	return out
}

func addr(base, i int) string { return fmt.Sprintf("127.0.0.1:%d", base+i) }

func newMember(id string, i int) *membership.Member {
	return &membership.Member{ID: id, Raft: addr(7100, i), Peer: addr(7200, i), Client: addr(7300, i)}
}

// membersFixture is n1..n3 at protocol 2 with a 2-of-3 Ed25519 key.
func membersFixture(t *testing.T) *lcHarness {
	h := newLC(t, fsm.DefaultFSMConfig())
	h.raiseToV2(lcMembers()...)
	h.key("ed", algEd25519, false)
	return h
}

func (h *lcHarness) memberState(id string) membership.State {
	h.t.Helper()
	m, ok := h.f.Members()[id]
	if !ok {
		h.t.Fatalf("%s is not a member", id)
	}
	return m.State
}

func TestReplaceMember(t *testing.T) {
	h := membersFixture(t)
	if h.f.Members() != nil || h.f.HolderTarget() != nil {
		t.Fatal("a membership table before any change")
	}
	replace := &fsm.ChangeMembers{Op: membership.Replace, Node: "n3", New: newMember("n4", 4),
		Bootstrap: bootstrapMembers(lcMembers()...), Actor: "admin"}
	h.mustOK(replace)
	if s := h.memberState("n4"); s != membership.Joining {
		t.Fatalf("n4 %s, want joining", s)
	}
	if s := h.memberState("n3"); s != membership.Removing {
		t.Fatalf("n3 %s, want removing", s)
	}
	if got := h.f.HolderTarget(); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Fatalf("holder target while n4 joins: %v", got)
	}
	// One change at a time.
	h.refused(&fsm.ChangeMembers{Op: membership.Add, New: newMember("n5", 5), Actor: "admin"}, fsm.ErrBadTransition)
	// Steps out of order are refused; n4 is a voter only once it holds
	// every key, n3 removed only once n4 votes and no key holds n3.
	h.refused(&fsm.MemberStep{Node: "n4", From: membership.Resharing, To: membership.Voter}, fsm.ErrStale)
	h.refused(&fsm.MemberStep{Node: "n3", From: membership.Removing, To: membership.Removed}, fsm.ErrBadTransition)
	h.mustOK(&fsm.MemberStep{Node: "n4", From: membership.Joining, To: membership.Resharing})
	if got := h.f.HolderTarget(); !slices.Equal(got, []string{"n1", "n2", "n4"}) {
		t.Fatalf("holder target: %v", got)
	}
	h.refused(&fsm.MemberStep{Node: "n4", From: membership.Resharing, To: membership.Voter}, fsm.ErrBadTransition)
	h.mustOK(fsm.ReshareKey{RequestID: "m1", Key: "ed", Members: []string{"n1", "n2", "n4"}, Threshold: 1,
		Committee: []string{"n1", "n2"}, Actor: fsm.ActorSupervisor})
	for _, m := range []string{"n1", "n2"} {
		h.mustOK(fsm.ShareRefreshed{Key: "ed", Version: 1, Epoch: 1, Node: m, PublicKey: versionPub("ed", 1)})
	}
	// Two of three new shares: n4 is not confirmed yet.
	h.refused(&fsm.MemberStep{Node: "n4", From: membership.Resharing, To: membership.Voter}, fsm.ErrBadTransition)
	h.mustOK(fsm.ShareRefreshed{Key: "ed", Version: 1, Epoch: 1, Node: "n4", PublicKey: versionPub("ed", 1)})
	h.refused(&fsm.MemberStep{Node: "n3", From: membership.Removing, To: membership.Removed}, fsm.ErrBadTransition)
	h.mustOK(&fsm.MemberStep{Node: "n4", From: membership.Resharing, To: membership.Voter})
	h.duplicate(&fsm.MemberStep{Node: "n4", From: membership.Resharing, To: membership.Voter})
	h.mustOK(&fsm.MemberStep{Node: "n3", From: membership.Removing, To: membership.Removed})
	ms := h.f.Members()
	if ms["n4"].State != membership.Voter || ms["n3"].State != membership.Removed || ms["n4"].Replaces != "" || ms["n3"].ReplacedBy != "" {
		t.Fatalf("after the replace: %+v", ms)
	}
	if got := h.f.FormerUnshredded("n3"); !slices.Equal(got, []string{"ed"}) {
		t.Fatalf("n3 former holder of %v", got)
	}
	// A removed id is not reused, and the table survives a snapshot.
	h.refused(&fsm.ChangeMembers{Op: membership.Add, New: newMember("n3", 3), Actor: "admin"}, fsm.ErrBadTransition)
	restored := newLC(t, fsm.DefaultFSMConfig())
	if err := restored.f.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, h.f)))); err != nil {
		t.Fatal(err)
	}
	if got := restored.f.Members(); got["n4"].State != membership.Voter || len(got) != 4 {
		t.Fatalf("restored members %+v", got)
	}
}

func TestChangeMembersRefusals(t *testing.T) {
	h := membersFixture(t)
	boot := bootstrapMembers(lcMembers()...)
	for name, c := range map[string]*fsm.ChangeMembers{
		"no bootstrap":      {Op: membership.Add, New: newMember("n4", 4), Actor: "admin"},
		"unknown op":        {Op: "swap", Node: "n3", Bootstrap: boot, Actor: "admin"},
		"no addresses":      {Op: membership.Add, New: &membership.Member{ID: "n4"}, Bootstrap: boot, Actor: "admin"},
		"address taken":     {Op: membership.Add, New: newMember("n4", 1), Bootstrap: boot, Actor: "admin"},
		"existing id":       {Op: membership.Add, New: newMember("n2", 4), Bootstrap: boot, Actor: "admin"},
		"remove a stranger": {Op: membership.Remove, Node: "n9", Bootstrap: boot, Actor: "admin"},
		// 1-of-3 keeps two holders; a 2-of-3 key could not lose one.
	} {
		if res := h.apply(c); res.Err == nil {
			t.Fatalf("%s: accepted", name)
		}
	}
	if h.f.Members() != nil {
		t.Fatal("a refused change left a membership table")
	}
	h.mustOK(fsm.ReshareKey{RequestID: "t2", Key: "ed", Members: lcMembers(), Threshold: 2, Committee: lcCommittee(), Actor: "admin"})
	for _, m := range lcMembers() {
		h.mustOK(fsm.ShareRefreshed{Key: "ed", Version: 1, Epoch: 1, Node: m, PublicKey: versionPub("ed", 1)})
	}
	h.refused(&fsm.ChangeMembers{Op: membership.Remove, Node: "n3", Bootstrap: boot, Actor: "admin"}, fsm.ErrBadTransition)
	if _, err := fsm.EncodeAt(&fsm.ChangeMembers{Op: membership.Add}, fsm.ProtocolV1); err == nil {
		t.Fatal("ChangeMembers encoded under protocol 1")
	}
}
