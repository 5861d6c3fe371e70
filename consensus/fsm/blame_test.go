package fsm_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/blame"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// blameFixture is a cluster of n1..n4 at protocol 2 with the 2-of-4 key
// "ed" (threshold 1: two distinct accusers exclude) and the 3-of-4 key
// "ec" (threshold 2: three do).
func blameFixture(t *testing.T) *fsmHarness {
	t.Helper()
	h := newFSMHarness(t, fsm.DefaultFSMConfig())
	members := []string{"n1", "n2", "n3", "n4"}
	h.raiseToV2(members...)
	h.activeKey("ed", algEd25519, 1, members...)
	h.activeKey("ec", algECDSA, 2, members...)
	return h
}

// minute of replicated time, as the leader stamps it.
const minute = int64(time.Minute)

// signAt appends a sign request of key at replicated time at, signed by
// committee.
func signAt(h *fsmHarness, id, key string, at int64, committee ...string) {
	h.t.Helper()
	msg := []byte("msg " + id)
	if key == "ec" {
		msg = digestOfText(id)
	}
	h.mustOK(authorized(fsm.SignRequested{RequestID: id, Key: key, Digest: msg, Committee: committee, Time: at}))
}

func digestOfText(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

func blamed(id string, attempt uint32, culprit, accuser string) *fsm.AttemptBlamed {
	ev := sha256.Sum256([]byte(fmt.Sprintf("%s/%d from %s", id, attempt, culprit)))
	return &fsm.AttemptBlamed{RequestID: id, Attempt: attempt, Culprit: culprit, Accuser: accuser,
		Check: "vss-length", EvidenceSHA256: hex.EncodeToString(ev[:])}
}

// A single accuser, lying or not, never excludes a member, however often
// it accuses: it may be the one that lies. The accusations are recorded.
func TestBlameFromOneAccuserIsOnlyRecorded(t *testing.T) {
	h := blameFixture(t)
	for i := range 6 {
		id := fmt.Sprintf("s%d", i)
		signAt(h, id, "ed", int64(i+1)*minute, "n1", "n2")
		res := h.mustOK(blamed(id, 1, "n2", "n1"))
		if !strings.Contains(res.Note, "recorded only") {
			t.Fatalf("accusation %d by the lone accuser: note %q, want recorded only", i, res.Note)
		}
	}
	if ex := h.f.Excluded(6 * minute); len(ex) != 0 {
		t.Fatalf("one accuser excluded %v", ex)
	}
	b, ok := h.f.BlameOf("n2")
	if !ok || b.Total != 6 || b.ExcludedUntil != 0 {
		t.Fatalf("record of n2 = %+v, %v; want 6 accusations, no exclusion", b, ok)
	}
	if got := h.f.BlamedIn("s5", 1); !slices.Equal(got, []string{"n2"}) {
		t.Fatalf("BlamedIn(s5, 1) = %v", got)
	}
}

// Threshold+1 distinct members of one key accusing within the exclusion
// time exclude the culprit for that time from the last accusation.
func TestBlameFromThresholdPlusOneAccusersExcludes(t *testing.T) {
	h := blameFixture(t)
	signAt(h, "a", "ed", 1*minute, "n1", "n2")
	h.mustOK(blamed("a", 1, "n2", "n1"))
	signAt(h, "b", "ed", 3*minute, "n2", "n3")
	res := h.mustOK(blamed("b", 1, "n2", "n3"))
	if !strings.Contains(res.Note, "excluded from committees until") {
		t.Fatalf("second distinct accuser: note %q", res.Note)
	}
	until := 3*minute + int64(10*time.Minute)
	if b, _ := h.f.BlameOf("n2"); b.ExcludedUntil != until {
		t.Fatalf("excluded until %d, want %d", b.ExcludedUntil, until)
	}
	if ex := h.f.Excluded(until - 1); !slices.Equal(ex, []string{"n2"}) {
		t.Fatalf("Excluded just before the end = %v, want [n2]", ex)
	}
	if ex := h.f.Excluded(until); len(ex) != 0 {
		t.Fatalf("Excluded at the end = %v, want none", ex)
	}
}

// A key of threshold 2 needs three distinct accusers: two members that
// may both be malicious cannot exclude a third.
func TestBlameNeedsThresholdPlusOneOfTheSameKey(t *testing.T) {
	h := blameFixture(t)
	signAt(h, "a", "ec", 1*minute, "n1", "n2", "n4")
	h.mustOK(blamed("a", 1, "n4", "n1"))
	h.mustOK(blamed("a", 1, "n4", "n2"))
	if ex := h.f.Excluded(2 * minute); len(ex) != 0 {
		t.Fatalf("two accusers of a threshold-2 key excluded %v", ex)
	}
	signAt(h, "b", "ec", 2*minute, "n2", "n3", "n4")
	h.mustOK(blamed("b", 1, "n4", "n3"))
	if ex := h.f.Excluded(3 * minute); !slices.Equal(ex, []string{"n4"}) {
		t.Fatalf("three accusers of a threshold-2 key: excluded %v, want [n4]", ex)
	}
}

// Accusations older than the exclusion time no longer count.
func TestBlameAccusationsAgeOut(t *testing.T) {
	h := blameFixture(t)
	signAt(h, "a", "ed", 1*minute, "n1", "n2")
	h.mustOK(blamed("a", 1, "n2", "n1"))
	signAt(h, "b", "ed", 12*minute, "n2", "n3")
	h.mustOK(blamed("b", 1, "n2", "n3"))
	if ex := h.f.Excluded(12 * minute); len(ex) != 0 {
		t.Fatalf("accusations 11 minutes apart excluded %v", ex)
	}
	if b, _ := h.f.BlameOf("n2"); len(b.Accusations) != 1 || b.Total != 2 {
		t.Fatalf("record %+v: want the old accusation dropped and 2 counted", b)
	}
}

// A member colluding with a culprit cannot flood honest accusations out
// of the record: each accuser keeps only its few newest.
func TestBlameFloodByOneAccuserKeepsOthersAccusations(t *testing.T) {
	h := blameFixture(t)
	signAt(h, "honest", "ed", 1*minute, "n1", "n2")
	h.mustOK(blamed("honest", 1, "n2", "n1"))
	for i := range 50 {
		id := fmt.Sprintf("flood%d", i)
		signAt(h, id, "ed", 2*minute, "n2", "n4")
		h.mustOK(blamed(id, 1, "n2", "n4"))
	}
	b, _ := h.f.BlameOf("n2")
	if !slices.ContainsFunc(b.Accusations, func(a blame.Accusation) bool { return a.Accuser == "n1" }) {
		t.Fatal("the flood pushed the honest accusation out")
	}
	if len(b.Accusations) > 5 {
		t.Fatalf("the record holds %d accusations, want at most 4 of the flooder's and 1 other", len(b.Accusations))
	}
	// n1 and n4 are two distinct accusers of a threshold-1 key.
	if ex := h.f.Excluded(3 * minute); !slices.Equal(ex, []string{"n2"}) {
		t.Fatalf("Excluded = %v", ex)
	}
}

func TestBlameRefusals(t *testing.T) {
	h := blameFixture(t)
	signAt(h, "a", "ed", minute, "n1", "n2")
	h.mustOK(&fsm.SignRetry{RequestID: "a", Attempt: 2, Committee: []string{"n3", "n4"}, Reason: "stalled"})
	bad := func(f func(*fsm.AttemptBlamed)) *fsm.AttemptBlamed {
		c := blamed("a", 2, "n4", "n3")
		f(c)
		return c
	}
	for _, tc := range []struct {
		name string
		cmd  *fsm.AttemptBlamed
		want error
	}{
		{"self-accusation", bad(func(c *fsm.AttemptBlamed) { c.Culprit = "n3" }), fsm.ErrInvalidCommand},
		{"no culprit", bad(func(c *fsm.AttemptBlamed) { c.Culprit = "" }), fsm.ErrInvalidCommand},
		{"unknown request", bad(func(c *fsm.AttemptBlamed) { c.RequestID = "nope" }), fsm.ErrStale},
		{"attempt 0", bad(func(c *fsm.AttemptBlamed) { c.Attempt = 0 }), fsm.ErrInvalidCommand},
		{"future attempt", bad(func(c *fsm.AttemptBlamed) { c.Attempt = 3 }), fsm.ErrInvalidCommand},
		{"culprit outside the current committee", bad(func(c *fsm.AttemptBlamed) { c.Culprit = "n2" }), fsm.ErrInvalidCommand},
		{"non-member", bad(func(c *fsm.AttemptBlamed) { c.Attempt, c.Culprit = 1, "n9" }), fsm.ErrInvalidCommand},
		{"check with spaces", bad(func(c *fsm.AttemptBlamed) { c.Check = "bad check" }), fsm.ErrInvalidCommand},
		{"check too long", bad(func(c *fsm.AttemptBlamed) { c.Check = strings.Repeat("x", 33) }), fsm.ErrInvalidCommand},
		{"evidence not a hash", bad(func(c *fsm.AttemptBlamed) { c.EvidenceSHA256 = "abcd" }), fsm.ErrInvalidCommand},
		{"evidence upper-case", bad(func(c *fsm.AttemptBlamed) { c.EvidenceSHA256 = strings.ToUpper(c.EvidenceSHA256) }), fsm.ErrInvalidCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.mustErr(tc.cmd, tc.want)
		})
	}
	if _, ok := h.f.BlameOf("n4"); ok {
		t.Fatal("a refused accusation was recorded")
	}
	// A member of the key outside the committee may accuse (a FROST
	// coordinator that does not sign).
	h.mustOK(blamed("a", 2, "n4", "n1"))
	// Earlier attempts' committees are not kept: members of the key may
	// report them.
	h.mustOK(blamed("a", 1, "n2", "n1"))
	if res := h.mustOK(blamed("a", 1, "n2", "n1")); !res.Duplicate {
		t.Fatal("the same accusation twice was not a duplicate")
	}
	if b, _ := h.f.BlameOf("n2"); b.Total != 1 {
		t.Fatalf("a duplicate counted: %+v", b)
	}
}

func TestClearBlameLiftsExclusionAndForgets(t *testing.T) {
	h := blameFixture(t)
	signAt(h, "a", "ed", minute, "n1", "n2")
	h.mustOK(blamed("a", 1, "n2", "n1"))
	signAt(h, "b", "ed", minute, "n2", "n3")
	h.mustOK(blamed("b", 1, "n2", "n3"))
	if ex := h.f.Excluded(2 * minute); len(ex) != 1 {
		t.Fatalf("not excluded: %v", ex)
	}
	res := h.mustOK(&fsm.ClearBlame{Member: "n2", Actor: "admin", Time: 2 * minute})
	if !strings.Contains(res.Note, "exclusion lifted") {
		t.Fatalf("clear note %q", res.Note)
	}
	if ex := h.f.Excluded(2 * minute); len(ex) != 0 {
		t.Fatalf("still excluded after a clear: %v", ex)
	}
	// Earlier accusations no longer count: one new accuser is alone.
	signAt(h, "c", "ed", 3*minute, "n2", "n4")
	h.mustOK(blamed("c", 1, "n2", "n4"))
	if ex := h.f.Excluded(3 * minute); len(ex) != 0 {
		t.Fatalf("accusations from before the clear counted: %v", ex)
	}
	if res := h.mustOK(&fsm.ClearBlame{Member: "n3", Actor: "admin"}); !res.Duplicate {
		t.Fatal("clearing a member with no record was not a no-op")
	}
}

func TestBlameNeedsProtocolV2AndSurvivesSnapshot(t *testing.T) {
	if _, err := fsm.EncodeAt(blamed("a", 1, "n2", "n1"), fsm.ProtocolV1); err == nil {
		t.Fatal("AttemptBlamed encoded under protocol 1")
	}
	if _, err := fsm.EncodeAt(&fsm.ClearBlame{Member: "n2"}, fsm.ProtocolV1); err == nil {
		t.Fatal("ClearBlame encoded under protocol 1")
	}
	h := blameFixture(t)
	signAt(h, "a", "ed", minute, "n1", "n2")
	h.mustOK(blamed("a", 1, "n2", "n1"))
	signAt(h, "b", "ed", minute, "n2", "n3")
	h.mustOK(blamed("b", 1, "n2", "n3"))
	data := snapshotBytes(t, h.f)
	r := restoredFSM(t, h.cfg, data)
	if ex := r.Excluded(2 * minute); !slices.Equal(ex, []string{"n2"}) {
		t.Fatalf("restored Excluded = %v", ex)
	}
	if !bytes.Equal(snapshotBytes(t, r), data) {
		t.Fatal("a restored FSM snapshots differently")
	}
}

// Clearing steers every key's committees: under a policy only a
// cluster-admin may.
func TestClearBlameNeedsClusterAdmin(t *testing.T) {
	h := blameFixture(t)
	signAt(h, "a", "ed", minute, "n1", "n2")
	h.mustOK(blamed("a", 1, "n2", "n1"))
	if res := h.setPolicy(contractPolicy, spiffe("admin")); res.Err != nil {
		t.Fatal(res.Err)
	}
	h.mustErr(&fsm.ClearBlame{Member: "n2", Actor: spiffe("bob")}, policy.ErrPermissionDenied)
	if _, ok := h.f.BlameOf("n2"); !ok {
		t.Fatal("a refused clear forgot the record")
	}
	h.mustOK(&fsm.ClearBlame{Member: "n2", Actor: spiffe("admin")})
	if _, ok := h.f.BlameOf("n2"); ok {
		t.Fatal("the cluster-admin's clear kept the record")
	}
}

func floodBlamed(culprit, accuser string) *fsm.AttemptBlamed {
	ev := sha256.Sum256([]byte(accuser + " dropped messages from " + culprit))
	return &fsm.AttemptBlamed{Culprit: culprit, Accuser: accuser, Check: blame.Flood, EvidenceSHA256: hex.EncodeToString(ev[:])}
}

// A flood names no attempt. One accuser's flood accusation is recorded
// (again while it stands, a duplicate); threshold+1 distinct accusers that
// hold a key with the culprit exclude it, for each key they share; the
// other checks still need a request.
func TestBlameForAFlood(t *testing.T) {
	h := blameFixture(t)
	res := h.mustOK(floodBlamed("n4", "n1"))
	if !strings.Contains(res.Note, "recorded only") {
		t.Fatalf("one flood accuser: note %q, want recorded only", res.Note)
	}
	if again := h.mustOK(floodBlamed("n4", "n1")); !again.Duplicate {
		t.Fatal("the same accuser's second flood accusation was not a duplicate")
	}
	if got := h.f.BlamedIn("", 0); len(got) != 0 {
		t.Fatalf("a flood accusation named an attempt: BlamedIn = %v", got)
	}
	// n2 is the second distinct accuser: "ed" (threshold 1) excludes.
	h.mustOK(floodBlamed("n4", "n2"))
	if ex := h.f.Excluded(0); !slices.Equal(ex, []string{"n4"}) {
		t.Fatalf("two flood accusers of a threshold-1 key: excluded %v, want [n4]", ex)
	}

	h.mustErr(floodBlamed("n9", "n1"), fsm.ErrInvalidCommand) // holds no key with n1
	notFlood := floodBlamed("n3", "n1")
	notFlood.Check = "vss-length"
	h.mustErr(notFlood, fsm.ErrStale) // another check needs its request
	withRequest := floodBlamed("n3", "n1")
	withRequest.RequestID = "nope"
	h.mustErr(withRequest, fsm.ErrStale)
}
