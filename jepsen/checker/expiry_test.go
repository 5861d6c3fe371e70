package checker

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/keyquorum/keyquorum/jepsen/model"
)

// ms is a history time in milliseconds.
func ms(n int64) int64 { return n * int64(time.Millisecond) }

func issueOp(call, ret int64, handle string, ttl time.Duration, st model.Status) porcupine.Operation {
	return op(call, ret, model.Input{Kind: model.IssueHandle, Key: "k", RequestID: "h-" + handle, Handle: handle, HandleTTL: ttl},
		model.Output{Status: st})
}

func signOp(call, ret int64, handle string, ttl time.Duration, rid string, out model.Output) porcupine.Operation {
	return op(call, ret, model.Input{Kind: model.Sign, Key: "k", Digest: "d-" + rid, RequestID: rid, Handle: handle, HandleTTL: ttl}, out)
}

var (
	signedOut  = model.Output{Status: model.OK, Signature: "5151", Version: 1}
	expiredOut = model.Output{Status: model.Denied, Error: `sign with "k": handle denied: handle e1 expired`}
)

// A handle issued between 1.0 s and 1.1 s for 3 s expires, with eps
// 750 ms, somewhere in [3.25 s, 4.85 s].
func TestExpiryAcceptsSignsOnEitherSideOfTheBounds(t *testing.T) {
	ttl := 3 * time.Second
	h := []porcupine.Operation{
		issueOp(ms(1000), ms(1100), "e1", ttl, model.OK),
		signOp(ms(1200), ms(1300), "e1", ttl, "s1", signedOut),  // at most 2.05 s: before expiry
		signOp(ms(2300), ms(2400), "e1", ttl, "s2", signedOut),  // at most 3.15 s: before expiry
		signOp(ms(3000), ms(3100), "e1", ttl, "s3", expiredOut), // near: a leader 500 ms ahead may refuse it
		signOp(ms(5400), ms(5500), "e1", ttl, "s4", signedOut),  // at least 4.65 s: near, a leader behind may sign
		signOp(ms(6000), ms(6100), "e1", ttl, "s5", expiredOut), // at least 5.25 s: after expiry
		signOp(ms(6200), ms(6300), "e1", ttl, "s6", model.Output{Status: model.FailedPrecondition}),
		signOp(ms(6400), math.MaxInt64, "e1", ttl, "s7", model.Output{Status: model.Unknown}),
		signOp(ms(6500), ms(6600), "e1", ttl, "s10", model.Output{Status: model.Unreached}),
		// A retry of a request that signed before the expiry returns its
		// signature after it: the entry is the first attempt's.
		signOp(ms(1500), math.MaxInt64, "e1", ttl, "s8", model.Output{Status: model.Unknown}),
		signOp(ms(7000), ms(7100), "e1", ttl, "s8", signedOut),
		// Long-lived handles are the model's to judge.
		signOp(ms(1200), ms(1300), "h1", 12*time.Hour, "s9", expiredOut),
	}
	c, st := Expiry(h, DefaultExpiryBound())
	if c.Verdict != Valid {
		t.Fatalf("good history: %s", c)
	}
	want := ExpiryStats{Bound: DefaultExpiryBound(), Handles: 1, BeforeExpiry: 2, AfterExpiry: 1, NearExpiry: 3,
		Signed: 4, RefusedExpired: 2, OtherRefusals: 1, Unreached: 1, Unknown: 2}
	if st != want || c.Checked != 6 {
		t.Fatalf("stats %+v (checked %d), want %+v", st, c.Checked, want)
	}
}

func TestExpiryCatchesASignWithAnExpiredHandle(t *testing.T) {
	ttl := 3 * time.Second
	h := []porcupine.Operation{
		issueOp(ms(1000), ms(1100), "e1", ttl, model.OK),
		signOp(ms(1200), ms(1300), "e1", ttl, "s1", signedOut),
		signOp(ms(6000), ms(6100), "e1", ttl, "s2", signedOut), // at least 5.25 s, expired by 4.85 s
	}
	c, _ := Expiry(h, DefaultExpiryBound())
	if c.Verdict != Invalid || len(c.Details) != 1 {
		t.Fatalf("a signature 5 s into a 3 s handle: %s", c)
	}
	for _, want := range []string{"signed with an expired handle", "rid=s2", "handle e1", "ttl 3s", "5.250s", "4.850s"} {
		if !strings.Contains(c.Details[0], want) {
			t.Errorf("violation %q does not say %q", c.Details[0], want)
		}
	}
}

func TestExpiryCatchesAHandleThatExpiredEarly(t *testing.T) {
	ttl := 3 * time.Second
	h := []porcupine.Operation{
		issueOp(ms(1000), ms(1100), "e1", ttl, model.OK),
		signOp(ms(1500), ms(1600), "e1", ttl, "s1", expiredOut), // at most 2.35 s, expires from 3.25 s
	}
	c, _ := Expiry(h, DefaultExpiryBound())
	if c.Verdict != Invalid || !strings.Contains(c.Details[0], "handle expired early") ||
		!strings.Contains(c.Details[0], "2.350s") || !strings.Contains(c.Details[0], "3.250s") {
		t.Fatalf("a refusal 0.5 s into a 3 s handle: %s", c)
	}
	// A tighter bound (a cluster that promises 100 ms) catches what the
	// default lets pass.
	near := []porcupine.Operation{
		issueOp(ms(1000), ms(1100), "e1", ttl, model.OK),
		signOp(ms(3000), ms(3100), "e1", ttl, "s1", expiredOut),
	}
	if c, _ := Expiry(near, DefaultExpiryBound()); c.Verdict != Valid {
		t.Fatalf("a refusal within eps of the expiry: %s", c)
	}
	if c, _ := Expiry(near, ExpiryBound{MaxClockOffset: 100 * time.Millisecond, Slack: 50 * time.Millisecond}); c.Verdict != Invalid {
		t.Fatalf("a refusal 1.9 s into a 3 s handle with eps 150 ms: %s", c)
	}
}

// An issue retried under its request id returns the handle its first
// applied attempt made: the expiry may count from the first call.
func TestExpiryCountsAHandleFromItsFirstAttempt(t *testing.T) {
	ttl := 3 * time.Second
	retried := []porcupine.Operation{
		issueOp(ms(500), math.MaxInt64, "e1", ttl, model.Unknown),
		issueOp(ms(2000), ms(2100), "e1", ttl, model.OK),
		signOp(ms(2200), ms(2300), "e1", ttl, "s1", expiredOut), // at most 3.05 s; expires from 2.75 s
	}
	if c, _ := Expiry(retried, DefaultExpiryBound()); c.Verdict != Valid {
		t.Fatalf("a refusal after an issue first sent at 0.5 s: %s", c)
	}
	if c, _ := Expiry(retried[1:], DefaultExpiryBound()); c.Verdict != Invalid {
		t.Fatalf("the same refusal after an issue sent once at 2.0 s: %s", c)
	}
	// A handle never acknowledged is not judged.
	never := []porcupine.Operation{
		issueOp(ms(500), math.MaxInt64, "e1", ttl, model.Unknown),
		signOp(ms(600), ms(700), "e1", ttl, "s1", expiredOut),
	}
	if c, st := Expiry(never, DefaultExpiryBound()); c.Verdict != Valid || c.Checked != 0 || st.Handles != 0 {
		t.Fatalf("signs with a handle never acknowledged: %s %+v", c, st)
	}
}
