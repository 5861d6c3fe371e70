package fsm_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
)

const presigTTL = int64(time.Minute)

// readyPresig boots n1 and n2, requests presignature id for "ec" with
// committee [n1 n2] at time at, and reports both halves parked.
func (h *fsmHarness) readyPresig(id string, at int64) {
	h.t.Helper()
	for _, n := range []string{"n1", "n2"} {
		if h.f.Time() == 0 || at == 1 {
			h.mustOK(fsm.NodeBooted{Node: n, Boot: "boot-" + n})
		}
	}
	h.mustOK(fsm.PresignRequested{ID: id, Key: "ec", Committee: []string{"n1", "n2"}, Time: at, TTL: presigTTL})
	h.mustOK(fsm.PresignReady{ID: id, Node: "n1", Boot: "boot-n1"})
	res := h.mustOK(fsm.PresignReady{ID: id, Node: "n2", Boot: "boot-n2"})
	if res.Presig.State != fsm.PresigReady {
		h.t.Fatalf("presignature %s: %s after both members parked", id, res.Presig.State)
	}
}

func presigFixture(t *testing.T) *fsmHarness {
	h := newFSMHarness(t, fsm.DefaultFSMConfig())
	h.activeKey("ec", algECDSA, 1, "n1", "n2", "n3")
	h.activeKey("ed", algEd25519, 1, "n1", "n2", "n3")
	return h
}

func signWith(id, presig string, at int64) fsm.SignRequested {
	return authorized(fsm.SignRequested{RequestID: id, Key: "ec", Digest: digest(7), Committee: []string{"n1", "n2"}, Time: at, Presig: presig})
}

// A presignature is consumed by exactly one sign request: the entry that
// names it deletes it, so a replayed or second entry naming it is refused.
func TestPresignatureIsConsumedOnce(t *testing.T) {
	h := presigFixture(t)
	h.readyPresig("p1", 1)
	res := h.mustOK(signWith("s1", "p1", 2))
	if res.Sign.Presig != "p1" {
		t.Fatalf("sign record names presignature %q", res.Sign.Presig)
	}
	if len(h.f.Presigs("ec")) != 0 {
		t.Fatal("a consumed presignature is still in the pool")
	}
	// The same request again is a duplicate: the stored record, nothing consumed.
	if dup := h.mustOK(signWith("s1", "p1", 3)); !dup.Duplicate {
		t.Fatal("retry of s1 was not recognised as a duplicate")
	}
	// Another request naming the used presignature is refused and records nothing.
	h.mustErr(signWith("s2", "p1", 4), fsm.ErrPresigUnavailable)
	if _, ok := h.f.Sign("s2"); ok {
		t.Fatal("a refused sign request left a record")
	}
	// A retry after the presigned attempt stalled runs the full protocol.
	retry := h.mustOK(fsm.SignRetry{RequestID: "s1", Attempt: 2, Committee: []string{"n2", "n3"}})
	if retry.Sign.Presig != "" {
		t.Fatal("a retry still names the spent presignature")
	}
}

func TestPresignatureRefusals(t *testing.T) {
	h := presigFixture(t)
	h.readyPresig("p1", 1)
	h.mustOK(fsm.PresignRequested{ID: "pending", Key: "ec", Committee: []string{"n1", "n2"}, Time: 2, TTL: presigTTL})
	cases := []struct {
		name string
		cmd  fsm.SignRequested
	}{
		{"unknown", signWith("a", "nope", 3)},
		{"not ready", signWith("b", "pending", 3)},
		{"other committee", authorized(fsm.SignRequested{RequestID: "c", Key: "ec", Digest: digest(7), Committee: []string{"n1", "n3"}, Time: 3, Presig: "p1"})},
	}
	for _, c := range cases {
		if res := h.apply(c.cmd); !errors.Is(res.Err, fsm.ErrPresigUnavailable) {
			t.Errorf("%s: %v, want ErrPresigUnavailable", c.name, res.Err)
		}
	}
	// Expired: replicated time passes the expiry before the request.
	h.mustErr(signWith("d", "p1", 1+presigTTL), fsm.ErrPresigUnavailable)
	if len(h.f.Presigs("ec")) != 1 { // only "pending" is left; the expired one is gone
		t.Fatalf("pool after expiry: %d presignatures", len(h.f.Presigs("ec")))
	}
	// Ed25519 never gets presignatures.
	h.mustErr(fsm.PresignRequested{ID: "e", Key: "ed", Committee: []string{"n1", "n2"}, Time: 5, TTL: presigTTL}, fsm.ErrInvalidCommand)
}

// Parked halves live in memory: when a member restarts, every presignature
// it was part of dies, and its reports from the earlier life are refused.
func TestRestartOfAMemberDiscardsItsPresignatures(t *testing.T) {
	h := presigFixture(t)
	h.readyPresig("p1", 1)
	h.mustOK(fsm.PresignRequested{ID: "p2", Key: "ec", Committee: []string{"n2", "n3"}, Time: 2, TTL: presigTTL})
	h.mustOK(fsm.PresignRequested{ID: "p3", Key: "ec", Committee: []string{"n1", "n3"}, Time: 2, TTL: presigTTL})
	h.mustOK(fsm.NodeBooted{Node: "n2", Boot: "boot-n2-again"})
	left := h.f.Presigs("ec")
	if len(left) != 1 || left[0].ID != "p3" {
		t.Fatalf("after n2 restarted: %+v, want only p3", left)
	}
	h.mustErr(signWith("s", "p1", 3), fsm.ErrPresigUnavailable)
	h.mustErr(fsm.PresignReady{ID: "p3", Node: "n1", Boot: "boot-n1-old"}, fsm.ErrStale)
}

func TestPresignaturePoolIsBounded(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	cfg.MaxPresigsPerKey = 2
	h := newFSMHarness(t, cfg)
	h.activeKey("ec", algECDSA, 1, "n1", "n2", "n3")
	for i, id := range []string{"a", "b"} {
		h.mustOK(fsm.PresignRequested{ID: id, Key: "ec", Committee: []string{"n1", "n2"}, Time: int64(i + 1), TTL: presigTTL})
	}
	h.mustErr(fsm.PresignRequested{ID: "c", Key: "ec", Committee: []string{"n1", "n2"}, Time: 3, TTL: presigTTL}, fsm.ErrTooManyPresigs)
	h.mustOK(fsm.PresignDiscarded{ID: "a", Node: "n1", Reason: "stalled"})
	h.mustOK(fsm.PresignRequested{ID: "c", Key: "ec", Committee: []string{"n1", "n2"}, Time: 4, TTL: presigTTL})
}
