package fsm_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// seedCommands is one command of every type, as the node encodes them; the
// fuzz targets start from their encodings.
func seedCommands() []fsm.Command {
	v := uint32(1)
	allow := true
	return []fsm.Command{
		fsm.CreateKey{RequestID: "r1", Name: "k", Algorithm: algECDSA, Threshold: 1, Members: []string{"n1", "n2", "n3"},
			Purposes: []string{"deploy"}, Actor: "admin", Time: 1},
		fsm.ShareStored{Key: "k", Version: 1, Node: "n1", PublicKey: fsmPub("k")},
		fsm.KeygenFailed{Key: "k", Version: 1, Node: "n2", Reason: "timeout"},
		authorized(fsm.SignRequested{RequestID: "s1", Key: "k", Digest: bytes.Repeat([]byte{7}, 32),
			Committee: []string{"n1", "n2"}, Actor: "admin", Time: 2, Presig: "p1"}),
		fsm.SignRetry{RequestID: "s1", Attempt: 2, Committee: []string{"n2", "n3"}, Reason: "stalled"},
		fsm.SignCompleted{RequestID: "s1", Attempt: 2, Node: "n2", Signature: fsmSig(fsmPub("k"), []byte{7}, "")},
		fsm.SignFailed{RequestID: "s1", Attempt: 3, Reason: "no committee"},
		fsm.PreParamsReady{Node: "n3"},
		fsm.PresignRequested{ID: "p1", Key: "k", Committee: []string{"n1", "n2"}, Time: 3, TTL: 60e9},
		fsm.PresignReady{ID: "p1", Node: "n1", Boot: "b1"},
		fsm.PresignDiscarded{ID: "p1", Node: "n1", Reason: "expired"},
		fsm.NodeBooted{Node: "n1", Boot: "b2"},
		grantFor("k", 3600e9),
		fsm.RevokeHandle{RequestID: "rv", HandleID: testHandleID("k"), Actor: "admin", Time: 4},
		fsm.ChangeKey{RequestID: "c1", Op: fsm.OpPolicy, Key: "k", MinSignVersion: &v, DeletionAllowed: &allow,
			Committee: []string{"n1"}, Actor: "admin", Time: 5},
		fsm.DestroyDue{Key: "k", Version: 1, Time: 6},
		fsm.ShareDestroyed{Key: "k", Version: 1, Node: "n1"},
		fsm.ShareRefreshed{Key: "k", Version: 1, Epoch: 1, Node: "n2", PublicKey: fsmPub("k")},
		fsm.RefreshFailed{Key: "k", Version: 1, Epoch: 1, Node: "n2", Reason: "stalled"},
	}
}

// FuzzDecodeCommand feeds arbitrary log entries to Decode, the first thing
// Apply and a member's forwarded report go through. Decode must not panic,
// must refuse with an error that says so, and whatever it accepts must
// re-encode and decode to the same command, with a bounded encoding.
func FuzzDecodeCommand(f *testing.F) {
	for _, c := range seedCommands() {
		data, err := fsm.Encode(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"type":"sign_requested","body":null}`))
	f.Add([]byte(`{"type":"no_such","body":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := fsm.Decode(data)
		if err != nil {
			if c != nil {
				t.Fatalf("Decode returned %T with error %v", c, err)
			}
			return
		}
		enc, err := fsm.Encode(c)
		if err != nil {
			t.Fatalf("Encode of a decoded %T: %v", c, err)
		}
		// Escaping may grow a string sixfold (one invalid byte becomes
		// \ufffd); absent fields add a fixed amount.
		if len(enc) > 6*len(data)+2048 {
			t.Fatalf("a %d-byte entry re-encodes to %d bytes", len(data), len(enc))
		}
		again, err := fsm.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(%T)): %v\n%s", c, err, enc)
		}
		if again.Type() != c.Type() || !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip changed the command:\n%#v\n%#v", c, again)
		}
		enc2, err := fsm.Encode(again)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable (%v):\n%s\n%s", err, enc, enc2)
		}
	})
}

// FuzzRestoreSnapshot hands Restore arbitrary bytes, as a leader's
// InstallSnapshot could. Restore must not panic: it either refuses or
// yields a state whose snapshot restores to the same bytes, and what the
// FSM then reports about itself must read back unchanged.
func FuzzRestoreSnapshot(f *testing.F) {
	h := newFSMHarness(f, fsm.DefaultFSMConfig())
	f.Add(snapshotBytes(f, h.f))
	h.activeKey("k", algECDSA, 1, "n1", "n2", "n3")
	h.mustOK(authorized(fsm.SignRequested{RequestID: "s1", Key: "k", Digest: bytes.Repeat([]byte{7}, 32),
		Committee: []string{"n1", "n2"}, Actor: "admin", Time: 2}))
	f.Add(snapshotBytes(f, h.f))
	h.mustOK(fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n2", Signature: fsmSig(fsmPub("k"), bytes.Repeat([]byte{7}, 32), "")})
	h.mustOK(fsm.PresignRequested{ID: "p1", Key: "k", Committee: []string{"n1", "n2"}, Time: 3, TTL: 60e9})
	f.Add(snapshotBytes(f, h.f))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := fsm.NewFSM(fsm.DefaultFSMConfig(), fsmCrypto{})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			if errors.Unwrap(err) == nil {
				t.Fatalf("Restore error wraps no cause: %v", err)
			}
			return
		}
		snap := snapshotBytes(t, m)
		again := restoredFSM(t, fsm.DefaultFSMConfig(), snap)
		if snap2 := snapshotBytes(t, again); !bytes.Equal(snap, snap2) {
			t.Fatalf("snapshot of a restored snapshot differs:\n%s\n%s", snap, snap2)
		}
		if a, b := viewOf(m), viewOf(again); !reflect.DeepEqual(a, b) {
			t.Fatalf("restored views differ:\n%+v\n%+v", a, b)
		}
		// A replica that restored the input keeps applying entries, and so
		// does one restored from its snapshot: they agree on every result
		// (as JSON: a snapshot does not keep empty slices apart from nil)
		// and end in the same state.
		for i, c := range seedCommands() {
			data, err := fsm.Encode(c)
			if err != nil {
				t.Fatal(err)
			}
			l := &raft.Log{Index: uint64(1_000_000 + i), Type: raft.LogCommand, Data: data}
			ra, _ := m.Apply(l).(fsm.Result)
			rb, _ := again.Apply(l).(fsm.Result)
			if a, b := fuzzResult(ra), fuzzResult(rb); a != b {
				t.Fatalf("a restored state and its snapshot disagree on %T:\n%s\n%s", c, a, b)
			}
		}
		if a, b := snapshotBytes(t, m), snapshotBytes(t, again); !bytes.Equal(a, b) {
			t.Fatalf("a restored state and its snapshot diverged:\n%s\n%s", a, b)
		}
	})
}

// fuzzResult renders a result for comparison, with its error text.
func fuzzResult(r fsm.Result) string {
	e := ""
	if r.Err != nil {
		e = r.Err.Error()
	}
	b, err := json.Marshal(struct {
		Err            string
		Key, Sign      any
		Presig, Handle any
		Version        uint32
		Ended          []string
		Duplicate      bool
	}{e, r.Key, r.Sign, r.Presig, r.Handle, r.Version, r.Ended, r.Duplicate})
	if err != nil {
		return err.Error()
	}
	return string(b)
}
