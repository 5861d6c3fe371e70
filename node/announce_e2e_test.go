package node_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/metrics/metricstest"
)

// TestSignAnnouncementsStartNothing plays a misbehaving member, and the
// leader's certificate in the wrong hands, against a follower's
// SignCommitted: every announcement is refused with FAILED_PRECONDITION,
// whether from a member that is not the leader, of another term, of an
// entry the follower does not hold or that is not a sign request, with an
// attempt that differs from the entry, or even the leader's own of the
// real entry, and the follower starts no signing attempt: members sign only
// for entries their own replica applied and accepted (sign_start.go;
// TestLeaderBypassSignsNothing shows the attack this closes).
func TestSignAnnouncementsStartNothing(t *testing.T) {
	c := startInProcess(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader, cl := leaderClient(ctx, t, c)
	createKey(ctx, t, cl, "ed", kqpb.Algorithm_ED25519)
	msg := digest("announced for real")
	resp, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "ed", Digest: msg, RequestId: "real-1"})
	if err != nil {
		t.Fatal(err)
	}
	op, err := c.Operator(leader)
	if err != nil {
		t.Fatal(err)
	}
	st, err := op.Status(ctx, &kqpb.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	au, err := c.Audit(leader)
	if err != nil {
		t.Fatal(err)
	}
	entryIndex := func(op string) uint64 {
		t.Helper()
		r, err := au.Query(ctx, &kqpb.AuditQueryRequest{Key: "ed", Op: op})
		if err != nil || len(r.Records) == 0 {
			t.Fatalf("no %s record in the audit trail: %v", op, err)
		}
		return r.Records[0].Index
	}
	signIdx, createIdx := entryIndex("sign"), entryIndex("create_key")

	var follower, other string
	for _, id := range c.IDs() {
		if id != leader && follower == "" {
			follower = id
		} else if id != leader {
			other = id
		}
	}
	announced := func() float64 {
		text, err := c.Scrape(ctx, follower)
		if err != nil {
			t.Fatal(err)
		}
		return metricstest.Parse(t, text)[`keyquorum_sign_starts_total{from="announced"}`]
	}
	before := announced()

	attempt := func(mutate func(*fsm.Sign)) []byte {
		s := fsm.Sign{RequestID: "real-1", Key: "ed", Version: resp.Version, Digest: msg, Committee: resp.Committee,
			Attempt: 1, SessionIndex: signIdx, State: fsm.SignStatePending}
		if mutate != nil {
			mutate(&s)
		}
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	real := attempt(nil)
	// A committee with the follower that is not the entry's.
	forgedCommittee := []string{follower, leader}
	if slices.Contains(resp.Committee, leader) && slices.Contains(resp.Committee, follower) {
		forgedCommittee = []string{follower, other}
	}
	for _, tc := range []struct {
		name string
		as   string
		req  *kqpb.CommittedSign
		want codes.Code
	}{
		{"from a member that is not the leader", other, &kqpb.CommittedSign{Index: signIdx, Term: st.Term, Signs: [][]byte{real}}, codes.FailedPrecondition},
		{"of another term", leader, &kqpb.CommittedSign{Index: signIdx, Term: st.Term + 1, Signs: [][]byte{real}}, codes.FailedPrecondition},
		{"of an entry the follower does not hold", leader, &kqpb.CommittedSign{Index: signIdx + 10_000, Term: st.Term, Signs: [][]byte{real}}, codes.FailedPrecondition},
		{"of an entry that is not a sign request", leader, &kqpb.CommittedSign{Index: createIdx, Term: st.Term, Signs: [][]byte{real}}, codes.FailedPrecondition},
		{"with another digest", leader, &kqpb.CommittedSign{Index: signIdx, Term: st.Term,
			Signs: [][]byte{attempt(func(s *fsm.Sign) { s.Digest = digest("forged") })}}, codes.FailedPrecondition},
		{"with another committee", leader, &kqpb.CommittedSign{Index: signIdx, Term: st.Term,
			Signs: [][]byte{attempt(func(s *fsm.Sign) { s.Committee = forgedCommittee })}}, codes.FailedPrecondition},
		{"with too many attempts", leader, &kqpb.CommittedSign{Index: signIdx, Term: st.Term, Signs: [][]byte{real, real, real}}, codes.FailedPrecondition},
		{"the real entry, already applied there", leader, &kqpb.CommittedSign{Index: signIdx, Term: st.Term, Signs: [][]byte{real}}, codes.FailedPrecondition},
	} {
		pc, conn, err := c.PeerClient(tc.as, follower)
		if err != nil {
			t.Fatal(err)
		}
		_, err = pc.SignCommitted(ctx, tc.req)
		conn.Close()
		if status.Code(err) != tc.want {
			t.Errorf("announcement %s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if after := announced(); after != before {
		t.Fatalf("the follower started %v signing attempts from forged or stale announcements", after-before)
	}
}
