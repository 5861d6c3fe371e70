package fsm_test

import (
	"strings"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
)

// TestClusterRecoveredRemovesTheLostMembers: a forced recovery's report
// leaves the bootstrap membership (cluster.yaml's) alone, and in a
// replicated membership removes every member the forced configuration
// left out, whatever its state, once; its note names what changed.
func TestClusterRecoveredRemovesTheLostMembers(t *testing.T) {
	h := membersFixture(t)
	rec := &fsm.ClusterRecovered{RequestID: "recover-n1-40", Node: "n1", Members: []string{"n1", "n4"},
		Previous: []string{"n1", "n2", "n3", "n4"}, LastIndex: 40, LastTerm: 3}
	if res := h.mustOK(rec); h.f.Members() != nil || strings.Contains(res.Note, "removed") {
		t.Fatalf("a recovery before any membership change made a table: %v, %q", h.f.Members(), res.Note)
	}

	// n4 joins (n1..n3 voters); then n2 and n3 are lost for good.
	h.mustOK(&fsm.ChangeMembers{Op: membership.Add, New: newMember("n4", 4), Bootstrap: bootstrapMembers(lcMembers()...), Actor: "admin"})
	res := h.mustOK(rec)
	if !strings.Contains(res.Note, "forced to [n1 n4] (was [n1 n2 n3 n4])") || !strings.Contains(res.Note, "members [n2 n3] removed") {
		t.Fatalf("note %q", res.Note)
	}
	for id, want := range map[string]membership.State{"n1": membership.Voter, "n2": membership.Removed,
		"n3": membership.Removed, "n4": membership.Joining} {
		if got := h.memberState(id); got != want {
			t.Errorf("%s is %s, want %s", id, got, want)
		}
	}
	// The other survivor's report of the same recovery changes nothing.
	rec.Node = "n4"
	if res := h.mustOK(rec); strings.Contains(res.Note, "removed") {
		t.Fatalf("a second report removed members again: %q", res.Note)
	}
}
