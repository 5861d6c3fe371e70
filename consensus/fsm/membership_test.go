package fsm_test

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm"
)

func bootstrapMembers(ids ...string) []fsm.Member {
	var out []fsm.Member
	for i, id := range ids {
		out = append(out, fsm.Member{ID: id, Raft: addr(7100, i), Peer: addr(7200, i), Client: addr(7300, i)})
	}
	return out
}

func addr(base, i int) string { return fmt.Sprintf("127.0.0.1:%d", base+i) }

func newMember(id string, i int) *fsm.Member {
	return &fsm.Member{ID: id, Raft: addr(7100, i), Peer: addr(7200, i), Client: addr(7300, i)}
}

// membersFixture is n1..n3 at protocol 2 with a 2-of-3 Ed25519 key.
func membersFixture(t *testing.T) *lcHarness {
	h := newLC(t, fsm.DefaultFSMConfig())
	h.raiseToV2(lcMembers()...)
	h.key("ed", algEd25519, false)
	return h
}

func (h *lcHarness) memberState(id string) fsm.MemberState {
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
	replace := &fsm.ChangeMembers{Op: fsm.MembersReplace, Node: "n3", New: newMember("n4", 4),
		Bootstrap: bootstrapMembers(lcMembers()...), Actor: "admin"}
	h.mustOK(replace)
	if s := h.memberState("n4"); s != fsm.MemberJoining {
		t.Fatalf("n4 %s, want joining", s)
	}
	if s := h.memberState("n3"); s != fsm.MemberRemoving {
		t.Fatalf("n3 %s, want removing", s)
	}
	if got := h.f.HolderTarget(); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Fatalf("holder target while n4 joins: %v", got)
	}
	// One change at a time.
	h.refused(&fsm.ChangeMembers{Op: fsm.MembersAdd, New: newMember("n5", 5), Actor: "admin"}, fsm.ErrBadTransition)
	// Steps out of order are refused; n4 is a voter only once it holds
	// every key, n3 removed only once n4 votes and no key holds n3.
	h.refused(&fsm.MemberStep{Node: "n4", From: fsm.MemberResharing, To: fsm.MemberVoter}, fsm.ErrStale)
	h.refused(&fsm.MemberStep{Node: "n3", From: fsm.MemberRemoving, To: fsm.MemberRemoved}, fsm.ErrBadTransition)
	h.mustOK(&fsm.MemberStep{Node: "n4", From: fsm.MemberJoining, To: fsm.MemberResharing})
	if got := h.f.HolderTarget(); !slices.Equal(got, []string{"n1", "n2", "n4"}) {
		t.Fatalf("holder target: %v", got)
	}
	h.refused(&fsm.MemberStep{Node: "n4", From: fsm.MemberResharing, To: fsm.MemberVoter}, fsm.ErrBadTransition)
	h.mustOK(fsm.ReshareKey{RequestID: "m1", Key: "ed", Members: []string{"n1", "n2", "n4"}, Threshold: 1,
		Committee: []string{"n1", "n2"}, Actor: fsm.ActorSupervisor})
	for _, m := range []string{"n1", "n2"} {
		h.mustOK(fsm.ShareRefreshed{Key: "ed", Version: 1, Epoch: 1, Node: m, PublicKey: versionPub("ed", 1)})
	}
	// Two of three new shares: n4 is not confirmed yet.
	h.refused(&fsm.MemberStep{Node: "n4", From: fsm.MemberResharing, To: fsm.MemberVoter}, fsm.ErrBadTransition)
	h.mustOK(fsm.ShareRefreshed{Key: "ed", Version: 1, Epoch: 1, Node: "n4", PublicKey: versionPub("ed", 1)})
	h.refused(&fsm.MemberStep{Node: "n3", From: fsm.MemberRemoving, To: fsm.MemberRemoved}, fsm.ErrBadTransition)
	h.mustOK(&fsm.MemberStep{Node: "n4", From: fsm.MemberResharing, To: fsm.MemberVoter})
	h.duplicate(&fsm.MemberStep{Node: "n4", From: fsm.MemberResharing, To: fsm.MemberVoter})
	h.mustOK(&fsm.MemberStep{Node: "n3", From: fsm.MemberRemoving, To: fsm.MemberRemoved})
	ms := h.f.Members()
	if ms["n4"].State != fsm.MemberVoter || ms["n3"].State != fsm.MemberRemoved || ms["n4"].Replaces != "" || ms["n3"].ReplacedBy != "" {
		t.Fatalf("after the replace: %+v", ms)
	}
	if got := h.f.FormerUnshredded("n3"); !slices.Equal(got, []string{"ed"}) {
		t.Fatalf("n3 former holder of %v", got)
	}
	// A removed id is not reused, and the table survives a snapshot.
	h.refused(&fsm.ChangeMembers{Op: fsm.MembersAdd, New: newMember("n3", 3), Actor: "admin"}, fsm.ErrBadTransition)
	restored := newLC(t, fsm.DefaultFSMConfig())
	if err := restored.f.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, h.f)))); err != nil {
		t.Fatal(err)
	}
	if got := restored.f.Members(); got["n4"].State != fsm.MemberVoter || len(got) != 4 {
		t.Fatalf("restored members %+v", got)
	}
}

func TestChangeMembersRefusals(t *testing.T) {
	h := membersFixture(t)
	boot := bootstrapMembers(lcMembers()...)
	for name, c := range map[string]*fsm.ChangeMembers{
		"no bootstrap":      {Op: fsm.MembersAdd, New: newMember("n4", 4), Actor: "admin"},
		"unknown op":        {Op: "swap", Node: "n3", Bootstrap: boot, Actor: "admin"},
		"no addresses":      {Op: fsm.MembersAdd, New: &fsm.Member{ID: "n4"}, Bootstrap: boot, Actor: "admin"},
		"address taken":     {Op: fsm.MembersAdd, New: newMember("n4", 1), Bootstrap: boot, Actor: "admin"},
		"existing id":       {Op: fsm.MembersAdd, New: newMember("n2", 4), Bootstrap: boot, Actor: "admin"},
		"remove a stranger": {Op: fsm.MembersRemove, Node: "n9", Bootstrap: boot, Actor: "admin"},
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
	h.refused(&fsm.ChangeMembers{Op: fsm.MembersRemove, Node: "n3", Bootstrap: boot, Actor: "admin"}, fsm.ErrBadTransition)
	if _, err := fsm.EncodeAt(&fsm.ChangeMembers{Op: fsm.MembersAdd}, fsm.ProtocolV1); err == nil {
		t.Fatal("ChangeMembers encoded under protocol 1")
	}
}
