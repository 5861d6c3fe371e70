package fsm_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/settings"
)

// raised returns a harness whose three members run protocol 2.
func raised(t *testing.T) *fsmHarness {
	t.Helper()
	h := newFSMHarness(t, fsm.DefaultFSMConfig())
	h.raiseToV2("n1", "n2", "n3")
	return h
}

func reported(maxTTL string) map[string]string {
	return map[string]string{"tpm.backend": "swtpm", "handles.max_ttl": maxTTL, "preparams.source": "generate"}
}

// TestSettingsDriftIsSeenAndAudited: a member whose local settings differ
// from most members' is drift, named with both values in the audit
// record's reason and in SettingsDrift; a later change of a member's
// settings names old and new values; a report that changes nothing is a
// duplicate.
func TestSettingsDriftIsSeenAndAudited(t *testing.T) {
	h := raised(t)
	h.mustOK(&fsm.NodeSettings{Node: "n1", Settings: reported("24h0m0s")})
	h.mustOK(&fsm.NodeSettings{Node: "n3", Settings: reported("24h0m0s")})
	res := h.mustOK(&fsm.NodeSettings{Node: "n2", Settings: reported("1h0m0s")})
	if !strings.Contains(res.Note, `drift: handles.max_ttl=1h0m0s (most members: 24h0m0s)`) {
		t.Fatalf("n2's report note %q, want the drift of handles.max_ttl named", res.Note)
	}
	d := h.f.SettingsDrift()
	if len(d) != 1 || len(d["n2"]) != 1 || d["n2"][0] != (settings.Drift{Setting: "handles.max_ttl", Value: "1h0m0s", Baseline: "24h0m0s"}) {
		t.Fatalf("SettingsDrift = %+v, want only n2's handles.max_ttl", d)
	}
	if res := h.mustOK(&fsm.NodeSettings{Node: "n2", Settings: reported("1h0m0s")}); !res.Duplicate {
		t.Fatal("an unchanged report is not a duplicate")
	}
	res = h.mustOK(&fsm.NodeSettings{Node: "n2", Settings: reported("24h0m0s")})
	if !strings.Contains(res.Note, `settings changed: handles.max_ttl "1h0m0s" -> "24h0m0s"`) || strings.Contains(res.Note, "drift") {
		t.Fatalf("n2's corrected report note %q, want the change named and no drift", res.Note)
	}
	if d := h.f.SettingsDrift(); len(d) != 0 {
		t.Fatalf("drift after the correction: %+v", d)
	}
	h.mustErr(&fsm.NodeSettings{Node: "n2"}, fsm.ErrInvalidCommand)
	h.mustErr(&fsm.NodeSettings{Node: "n2", Settings: map[string]string{"x": strings.Repeat("v", 300)}}, fsm.ErrInvalidCommand)
}

// TestReplicatedLimitsDecideNotTheLocalConfig: once SetLimits applied, a
// handle's TTL cap is the replicated one on every replica, whatever each
// replica's FSMConfig says; the limits survive a snapshot.
func TestReplicatedLimitsDecideNotTheLocalConfig(t *testing.T) {
	h := raised(t)
	if _, replicated := h.f.LimitsInForce(); replicated {
		t.Fatal("limits replicated before any SetLimits")
	}
	h.activeKey("k", "ed25519", 1, "n1", "n2", "n3")
	res := h.mustOK(&fsm.SetLimits{MaxHandleTTL: int64(time.Hour), RequestRecordAge: int64(2 * time.Hour), Actor: "admin"})
	if !strings.Contains(res.Note, "handles.max_ttl 24h0m0s -> 1h0m0s") {
		t.Fatalf("SetLimits note %q", res.Note)
	}
	// A replica whose own config allows 24 h still refuses 2 h.
	long := grantFor("k", int64(2*time.Hour))
	long.RequestID, long.HandleID = "issue-long", "h-long"
	h.mustErr(long, fsm.ErrInvalidCommand)
	h.mustErr(&fsm.SetLimits{MaxHandleTTL: 0, RequestRecordAge: int64(time.Hour)}, fsm.ErrInvalidCommand)
	h.mustErr(&fsm.SetLimits{MaxHandleTTL: int64(time.Hour), RequestRecordAge: int64(time.Second)}, fsm.ErrInvalidCommand)

	g := newFSMHarness(t, fsm.DefaultFSMConfig())
	if err := g.f.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, h.f)))); err != nil {
		t.Fatal(err)
	}
	if l, replicated := g.f.LimitsInForce(); !replicated || l.MaxHandleTTL != int64(time.Hour) || l.RequestRecordAge != int64(2*time.Hour) {
		t.Fatalf("restored limits %+v (replicated %v)", l, replicated)
	}
}

// TestSettingsEntriesNeedProtocol2: before the raise, nodes cannot write
// them (EncodeAt refuses), so old replicas never meet them.
func TestSettingsEntriesNeedProtocol2(t *testing.T) {
	for _, c := range []fsm.Command{&fsm.SetLimits{}, &fsm.NodeSettings{}} {
		if _, err := fsm.EncodeAt(c, fsm.ProtocolV1); !errors.Is(err, fsm.ErrProtocolNotActive) {
			t.Errorf("EncodeAt(%T, 1): %v, want ErrProtocolNotActive", c, err)
		}
	}
}
