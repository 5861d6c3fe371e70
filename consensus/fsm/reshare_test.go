package fsm_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm"
)

func TestReshareKey(t *testing.T) {
	setup := func(t *testing.T) *lcHarness {
		h := newLC(t, fsm.DefaultFSMConfig())
		h.raiseToV2(lcMembers()...)
		h.key("ec", algECDSA, false)
		h.presig("p1", "ec")
		return h
	}
	reshare := func(h *lcHarness, threshold int, members ...string) fsm.ReshareKey {
		return fsm.ReshareKey{RequestID: h.nextID("reshare"), Key: "ec", Members: members, Threshold: threshold,
			Committee: lcCommittee(), Actor: "admin", Time: h.now}
	}
	refreshed := func(node string) fsm.ShareRefreshed {
		return fsm.ShareRefreshed{Key: "ec", Version: 1, Epoch: 1, Node: node, PublicKey: versionPub("ec", 1)}
	}

	t.Run("a dead holder is left out and becomes a former holder", func(t *testing.T) {
		h := setup(t)
		res := h.mustOK(reshare(h, 1, "n2", "n1"))
		r := res.Key.Version(1).Refresh
		if r == nil || !slices.Equal(r.Members, []string{"n1", "n2"}) || r.Threshold != 1 || r.Epoch != 1 {
			t.Fatalf("reshare started %+v", r)
		}
		if !strings.Contains(res.Note, "[n3] left out") {
			t.Fatalf("note %q does not say n3 is left out", res.Note)
		}
		h.refused(refreshed("n3"), fsm.ErrInvalidCommand) // not a new holder
		h.mustOK(refreshed("n1"))
		if k := h.keyOf("ec"); !slices.Equal(k.Members, lcMembers()) || k.Version(1).Epoch != 0 {
			t.Fatalf("switched before every new holder confirmed: %+v", k)
		}
		k := h.mustOK(refreshed("n2")).Key
		if !slices.Equal(k.Members, []string{"n1", "n2"}) || k.Threshold != 1 || k.Version(1).Epoch != 1 || k.Version(1).Refresh != nil {
			t.Fatalf("after every new holder: %+v", k)
		}
		if len(k.Former) != 1 || k.Former[0].Node != "n3" || k.Former[0].Shredded {
			t.Fatalf("former holders %+v, want n3 unshredded", k.Former)
		}
		if got := h.f.FormerUnshredded("n3"); !slices.Equal(got, []string{"ec"}) {
			t.Fatalf("FormerUnshredded(n3) = %v", got)
		}
		if len(h.f.Presigs("ec")) != 0 {
			t.Fatal("presignatures of the old shares survived the switch")
		}
		// n3 no longer signs: a committee naming it is refused.
		bad := h.signReq("after", "ec", 0)
		bad.Committee = []string{"n1", "n3"}
		h.refused(bad, fsm.ErrInvalidCommand)
		h.refused(fsm.SharesShredded{Key: "ec", Node: "n1"}, fsm.ErrStale)
		h.mustOK(fsm.SharesShredded{Key: "ec", Node: "n3"})
		h.duplicate(fsm.SharesShredded{Key: "ec", Node: "n3"})
		if got := h.f.FormerUnshredded("n3"); len(got) != 0 {
			t.Fatalf("FormerUnshredded(n3) after the report = %v", got)
		}
	})

	t.Run("threshold change keeps the holders and the public key", func(t *testing.T) {
		h := setup(t)
		c := reshare(h, 2, lcMembers()...)
		h.mustOK(c)
		h.duplicate(c)
		other := c
		other.Threshold = 1
		h.refused(other, fsm.ErrRequestConflict)
		for _, m := range lcMembers() {
			h.mustOK(refreshed(m))
		}
		k := h.keyOf("ec")
		if k.Threshold != 2 || !slices.Equal(k.Members, lcMembers()) || !slices.Equal(k.PublicKey(), versionPub("ec", 1)) || len(k.Former) != 0 {
			t.Fatalf("after the threshold change: %+v", k)
		}
		// Signing now takes three.
		h.refused(h.signReq("two", "ec", 0), fsm.ErrInvalidCommand)
		s := h.signReq("three", "ec", 0)
		s.Committee = lcMembers()
		h.mustOK(s)
	})

	t.Run("a failed reshare changes nothing", func(t *testing.T) {
		h := setup(t)
		h.mustOK(reshare(h, 1, "n1", "n2"))
		h.mustOK(refreshed("n1"))
		h.mustOK(fsm.RefreshFailed{Key: "ec", Version: 1, Epoch: 1, Node: "n2", Reason: "stalled"})
		k := h.keyOf("ec")
		if !slices.Equal(k.Members, lcMembers()) || k.Threshold != 1 || k.Version(1).Epoch != 0 || len(k.Former) != 0 {
			t.Fatalf("after a failed reshare: %+v", k)
		}
		if len(h.f.Presigs("ec")) != 1 {
			t.Fatal("a failed reshare dropped presignatures")
		}
	})

	t.Run("refusals", func(t *testing.T) {
		h := setup(t)
		before := h.keyOf("ec")
		for name, c := range map[string]fsm.ReshareKey{
			"threshold too high": reshare(h, 2, "n1", "n2"),
			"threshold zero":     reshare(h, 0, "n1", "n2"),
			"no holders":         reshare(h, 1),
			"repeated holder":    reshare(h, 1, "n1", "n1", "n2"),
			"unknown holder":     reshare(h, 1, "n1", "n2", "n9"),
		} {
			if res := h.apply(c); res.Err == nil {
				t.Fatalf("%s: accepted", name)
			}
		}
		bad := reshare(h, 1, "n1", "n2")
		bad.Committee = []string{"n1", "n9"}
		h.refused(bad, fsm.ErrInvalidCommand)
		bad.Key = "nope"
		h.refused(bad, fsm.ErrUnknownKey)
		// While a staged version could sign, holders stay as they are;
		// a plain refresh of one version is still fine.
		v2 := h.rotated("ec")
		h.refused(reshare(h, 1, "n1", "n2"), fsm.ErrBadTransition)
		plain := reshare(h, 1, lcMembers()...)
		plain.Version = v2
		if r := h.mustOK(plain).Key.Version(v2).Refresh; r == nil || len(r.Members) != 0 || r.Threshold != 0 {
			t.Fatalf("same holders and threshold: %+v, want a plain refresh", r)
		}
		if k := h.keyOf("ec"); !slices.Equal(k.Members, before.Members) || k.Threshold != before.Threshold {
			t.Fatalf("refusals changed the key: %+v", k)
		}
		if _, err := fsm.EncodeAt(&fsm.ReshareKey{Key: "ec"}, fsm.ProtocolV1); err == nil {
			t.Fatal("ReshareKey encoded under protocol 1")
		}
	})
}
