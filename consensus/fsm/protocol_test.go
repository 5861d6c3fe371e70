package fsm_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// TestUninterpretableEntryHaltsTheReplica: an entry of an unknown type, of
// a newer protocol version, or with a field this build does not know
// stops the FSM. The halt handler hears once, naming the index and the
// version; the entry and every later one change nothing, so the replica
// never runs on with a state or audit chain the others do not have.
func TestUninterpretableEntryHaltsTheReplica(t *testing.T) {
	for _, tc := range []struct {
		name, entry string
		want        error
	}{
		{"unknown type", `{"v":2,"type":"from_the_future","body":{}}`, fsm.ErrUnknownCommand},
		{"unknown type, unversioned", `{"type":"from_the_future","body":{}}`, fsm.ErrUnknownCommand},
		{"newer protocol", `{"v":99,"type":"node_booted","body":{"node":"n1","boot":"b"}}`, fsm.ErrUnsupportedProtocol},
		{"unknown field", `{"v":2,"type":"node_booted","body":{"node":"n1","boot":"b","colour":"blue"}}`, nil},
		{"unknown envelope field", `{"v":2,"type":"node_booted","body":{"node":"n1","boot":"b"},"sig":"x"}`, nil},
		{"broken JSON", `{"v":2,"type":`, nil},
		{"a type the version does not have", `{"type":"raise_protocol","body":{"version":2,"members":["n1"]}}`, fsm.ErrInvalidCommand},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newFSMHarness(t, fsm.DefaultFSMConfig())
			var heard []error
			h.f.SetHalt(func(err error) { heard = append(heard, err) })
			h.mustOK(&fsm.PreParamsReady{Node: "n1"})
			out := h.f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: []byte(tc.entry)})
			res, _ := out.(fsm.Result)
			if res.Err == nil || (tc.want != nil && !errors.Is(res.Err, tc.want)) {
				t.Fatalf("Apply: %v, want an error wrapping %v", res.Err, tc.want)
			}
			if len(heard) != 1 || !strings.Contains(heard[0].Error(), "entry 2") || !strings.Contains(heard[0].Error(), "protocol") {
				t.Fatalf("halt handler heard %v, want one error naming entry 2 and its protocol", heard)
			}
			// Every later entry is refused and changes nothing.
			booted, _ := fsm.Encode(&fsm.NodeBooted{Node: "n2", Boot: "b2", Protocol: 2})
			if res, _ := h.f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: booted}).(fsm.Result); res.Err == nil {
				t.Fatal("a halted FSM applied a later entry")
			}
			if _, ok := h.f.ProtocolSupport()["n2"]; ok || len(heard) != 1 {
				t.Fatalf("halted FSM changed state or halted twice: support %v, heard %d", h.f.ProtocolSupport(), len(heard))
			}
			if h.f.Halted() == nil {
				t.Fatal("Halted() is nil after a halt")
			}
		})
	}
}

// TestUnversionedEntriesStillApply: entries written before versions (no
// "v", protocol 1) apply as they always did.
func TestUnversionedEntriesStillApply(t *testing.T) {
	h := newFSMHarness(t, fsm.DefaultFSMConfig())
	out := h.f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte(`{"type":"node_booted","body":{"node":"n1","boot":"b1"}}`)})
	if res, _ := out.(fsm.Result); res.Err != nil {
		t.Fatalf("unversioned entry: %v", res.Err)
	}
	if got := h.f.ProtocolSupport()["n1"]; got != fsm.ProtocolV1 {
		t.Fatalf("n1 supports %d, want %d (no protocol reported)", got, fsm.ProtocolV1)
	}
}

// TestProtocolRisesOnlyWhenEveryMemberSupportsIt walks an upgrade: the
// active version stays 1 while any member reports only 1, a raise naming
// such a member is refused, an entry written under 2 before the raise is
// refused (not halted on), and after the raise it applies; the version
// survives a snapshot.
func TestProtocolRisesOnlyWhenEveryMemberSupportsIt(t *testing.T) {
	h := newFSMHarness(t, fsm.DefaultFSMConfig())
	members := []string{"n1", "n2", "n3"}
	if v := h.f.Protocol(); v != fsm.ProtocolV1 {
		t.Fatalf("a new cluster runs protocol %d, want 1", v)
	}
	h.mustOK(&fsm.NodeBooted{Node: "n1", Boot: "a", Protocol: 2})
	h.mustOK(&fsm.NodeBooted{Node: "n2", Boot: "a", Protocol: 2})
	h.mustOK(&fsm.NodeBooted{Node: "n3", Boot: "a"}) // an old build
	if v := h.f.ProtocolToRaise(members); v != 0 {
		t.Fatalf("ProtocolToRaise with n3 on protocol 1: %d, want 0", v)
	}
	if res := h.apply(&fsm.RaiseProtocol{Version: 2, Members: members}); !errors.Is(res.Err, fsm.ErrBadTransition) {
		t.Fatalf("raise with n3 on an old build: %v, want ErrBadTransition", res.Err)
	}
	// An entry written under protocol 2 before the raise: refused alike
	// on every replica.
	v2, err := fsm.EncodeAt(&fsm.PreParamsReady{Node: "n1"}, fsm.ProtocolV2)
	if err != nil {
		t.Fatal(err)
	}
	h.idx++
	if res, _ := h.f.Apply(&raft.Log{Index: h.idx, Type: raft.LogCommand, Data: v2}).(fsm.Result); !errors.Is(res.Err, fsm.ErrProtocolNotActive) {
		t.Fatalf("v2 entry before the raise: %v, want ErrProtocolNotActive", res.Err)
	}
	if h.f.Halted() != nil {
		t.Fatalf("a refused entry halted the FSM: %v", h.f.Halted())
	}

	h.mustOK(&fsm.NodeBooted{Node: "n3", Boot: "b", Protocol: 2}) // n3 upgraded
	if v := h.f.ProtocolToRaise(members); v != fsm.ProtocolV2 {
		t.Fatalf("ProtocolToRaise after the last upgrade: %d, want 2", v)
	}
	h.mustOK(&fsm.RaiseProtocol{Version: 2, Members: members})
	if v := h.f.Protocol(); v != fsm.ProtocolV2 {
		t.Fatalf("after the raise: protocol %d, want 2", v)
	}
	if res := h.apply(&fsm.RaiseProtocol{Version: 2, Members: members}); !errors.Is(res.Err, fsm.ErrStale) {
		t.Fatalf("raise again: %v, want ErrStale", res.Err)
	}
	h.idx++
	if res, _ := h.f.Apply(&raft.Log{Index: h.idx, Type: raft.LogCommand, Data: v2}).(fsm.Result); res.Err != nil {
		t.Fatalf("v2 entry after the raise: %v", res.Err)
	}
	if _, err := fsm.EncodeAt(&fsm.RaiseProtocol{Version: 3, Members: members}, 2); !errors.Is(err, fsm.ErrUnsupportedProtocol) {
		t.Fatalf("encode a raise beyond this build: %v, want ErrUnsupportedProtocol", err)
	}

	// The active version survives a snapshot.
	snap := snapshotBytes(t, h.f)
	g := newFSMHarness(t, fsm.DefaultFSMConfig())
	if err := g.f.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if v := g.f.Protocol(); v != fsm.ProtocolV2 {
		t.Fatalf("restored protocol %d, want 2", v)
	}
}

// TestSnapshotFromTheFutureIsRefused: a snapshot of a cluster at a newer
// protocol, or with a field this build does not know, fails Restore
// instead of being half-restored.
func TestSnapshotFromTheFutureIsRefused(t *testing.T) {
	h := newFSMHarness(t, fsm.DefaultFSMConfig())
	h.mustOK(&fsm.NodeBooted{Node: "n1", Boot: "a", Protocol: 2})
	snap := string(snapshotBytes(t, h.f))
	for name, s := range map[string]string{
		"newer protocol": strings.Replace(snap, `"time":`, `"protocol":99,"time":`, 1),
		"unknown field":  strings.Replace(snap, `"time":`, `"colour":"blue","time":`, 1),
	} {
		g := newFSMHarness(t, fsm.DefaultFSMConfig())
		if err := g.f.Restore(io.NopCloser(strings.NewReader(s))); err == nil {
			t.Errorf("%s: Restore accepted it", name)
		}
	}
}
