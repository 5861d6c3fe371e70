package presign

import (
	"slices"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/clocksync"
)

// TestPresigUsableSkipsCommitteesWithAMemberNotReady: a ready presignature
// whose committee holds a member that is not ready (restarted before its
// NodeBooted is applied, so its half is gone; or replaying; or silent) is
// not named, so the request takes another one or the full protocol at once
// instead of waiting for the supervisor to move it.
func TestPresigUsableSkipsCommitteesWithAMemberNotReady(t *testing.T) {
	k := &fsm.Key{Name: "k", Primary: 1, Versions: []*fsm.Version{{Number: 1}}}
	p := &fsm.Presig{ID: "p", Key: "k", Version: 1, Epoch: k.Current().Epoch, Committee: []string{"n1", "n2"}, State: fsm.PresigReady, Expires: 100}
	all := []string{"n1", "n2", "n3"}
	if !Usable(p, k, 10, all, map[string]string{"n3": clocksync.ReadyRebooted}) {
		t.Fatal("a presignature of ready, reachable members must be usable")
	}
	for _, why := range []string{clocksync.ReadyRebooted, clocksync.ReadyBehind, clocksync.ReadySilent} {
		if Usable(p, k, 10, all, map[string]string{"n2": why}) {
			t.Fatalf("a presignature with a member %s must not be named", why)
		}
	}
	if Usable(p, k, 10, []string{"n1", "n3"}, nil) {
		t.Fatal("a presignature with an unreachable member must not be named")
	}
}

// TestExposedMembersAreThoseEveryPresignatureNeeds: a member whose restart
// would discard the whole pool is exposed; once a presignature without it
// is in the pool, it is not.
func TestExposedMembersAreThoseEveryPresignatureNeeds(t *testing.T) {
	members := []string{"n1", "n2", "n3"}
	ps := func(cs ...[]string) []*fsm.Presig {
		var out []*fsm.Presig
		for _, c := range cs {
			out = append(out, &fsm.Presig{Committee: c})
		}
		return out
	}
	for _, tc := range []struct {
		pool []*fsm.Presig
		want []string
	}{
		{nil, nil},
		{ps([]string{"n2", "n3"}), []string{"n2", "n3"}},
		{ps([]string{"n2", "n3"}, []string{"n2", "n3"}), []string{"n2", "n3"}},
		{ps([]string{"n2", "n3"}, []string{"n1", "n2"}), []string{"n2"}},
		{ps([]string{"n2", "n3"}, []string{"n1", "n2"}, []string{"n1", "n3"}), nil},
	} {
		if got := ExposedMembers(members, tc.pool); !slices.Equal(got, tc.want) {
			t.Errorf("ExposedMembers(%d presignatures) = %v, want %v", len(tc.pool), got, tc.want)
		}
	}
}

// TestRefillCountsOnlyPresignaturesOfReadyMembers: the refill counts a
// presignature, pending (one refill at a time) or ready (against the pool
// target), only while every member of its committee is ready.
func TestRefillCountsOnlyPresignaturesOfReadyMembers(t *testing.T) {
	pool := []*fsm.Presig{
		{ID: "a", Committee: []string{"n1", "n3"}, State: fsm.PresigPending},
		{ID: "b", Committee: []string{"n2", "n3"}, State: fsm.PresigReady},
		{ID: "c", Committee: []string{"n1", "n2"}, State: fsm.PresigReady},
	}
	got := Standing(pool, map[string]string{"n3": clocksync.ReadySilent})
	if len(got) != 1 || got[0].ID != "c" || Refilling(got) != 0 {
		t.Fatalf("with n3 silent the refill counts %d presignatures (%d pending), want only c", len(got), Refilling(got))
	}
	if got := Standing(pool, nil); len(got) != 3 || Refilling(got) != 1 {
		t.Fatalf("with every member ready the refill counts %d presignatures (%d pending), want 3 (1)", len(got), Refilling(got))
	}
}
