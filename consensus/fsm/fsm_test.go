package fsm_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/keyquorum/keyquorum/consensus/fsm"
)

const (
	algECDSA   = "ecdsa-secp256k1"
	algEd25519 = "ed25519"
)

// fsmCrypto is a deterministic stand-in for the real algorithms. A signature
// is valid when its first 32 bytes are sha256(publicKey || message); any
// suffix is allowed, so a test can make two different valid signatures.
type fsmCrypto struct{}

func (fsmCrypto) KnownAlgorithm(alg string) bool { return alg == algECDSA || alg == algEd25519 }

func (fsmCrypto) CheckMessage(alg string, msg []byte) error {
	switch {
	case alg == algECDSA && len(msg) != 32:
		return fmt.Errorf("ecdsa digest must be 32 bytes, got %d", len(msg))
	case alg == algEd25519 && (len(msg) < 1 || len(msg) > 1024):
		return fmt.Errorf("ed25519 message must be 1..1024 bytes, got %d", len(msg))
	case alg != algECDSA && alg != algEd25519:
		return fmt.Errorf("unknown algorithm %q", alg)
	}
	return nil
}

func (fsmCrypto) Verify(_ string, pub, msg, sig []byte) bool {
	return len(sig) >= 32 && bytes.Equal(sig[:32], fsmSig(pub, msg, ""))
}

// fsmSig returns a signature fsmCrypto accepts, with suffix appended.
func fsmSig(pub, msg []byte, suffix string) []byte {
	h := sha256.New()
	h.Write(pub)
	h.Write(msg)
	return append(h.Sum(nil), suffix...)
}

// fsmApplied is one entry the observer saw.
type fsmApplied struct {
	index uint64
	cmd   fsm.Command
	res   fsm.Result
}

type fsmRecorder struct {
	mu   sync.Mutex
	seen []fsmApplied
}

func (r *fsmRecorder) Applied(index uint64, cmd fsm.Command, res fsm.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, fsmApplied{index, cmd, res})
}

func (r *fsmRecorder) entries() []fsmApplied {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// fsmHarness feeds commands to one FSM as raft would, one index at a time.
type fsmHarness struct {
	t   testing.TB
	cfg fsm.FSMConfig
	f   *fsm.FSM
	idx uint64
	obs *fsmRecorder
}

// raiseToV2 boots members at protocol 2 (member n in the process life
// "boot-n") and raises the cluster's protocol to 2.
func (h *fsmHarness) raiseToV2(members ...string) {
	h.t.Helper()
	for _, n := range members {
		h.mustOK(&fsm.NodeBooted{Node: n, Boot: "boot-" + n, Protocol: fsm.ProtocolV2})
	}
	h.mustOK(&fsm.RaiseProtocol{Version: fsm.ProtocolV2, Members: members})
}

func newFSMHarness(t testing.TB, cfg fsm.FSMConfig) *fsmHarness {
	t.Helper()
	f, err := fsm.NewFSM(cfg, fsmCrypto{})
	if err != nil {
		t.Fatalf("NewFSM: %v", err)
	}
	obs := &fsmRecorder{}
	f.SetObserver(obs)
	return &fsmHarness{t: t, cfg: cfg, f: f, obs: obs}
}

func (h *fsmHarness) apply(cmd fsm.Command) fsm.Result {
	h.t.Helper()
	data, err := fsm.Encode(cmd)
	if err != nil {
		h.t.Fatalf("Encode(%T): %v", cmd, err)
	}
	h.idx++
	out := h.f.Apply(&raft.Log{Index: h.idx, Type: raft.LogCommand, Data: data})
	res, ok := out.(fsm.Result)
	if !ok {
		h.t.Fatalf("Apply returned %T, want fsm.Result", out)
	}
	return res
}

// mustOK applies cmd and fails the test if the result carries an error.
func (h *fsmHarness) mustOK(cmd fsm.Command) fsm.Result {
	h.t.Helper()
	res := h.apply(cmd)
	if res.Err != nil {
		h.t.Fatalf("apply %T %+v: %v", cmd, cmd, res.Err)
	}
	return res
}

// mustErr applies cmd and fails the test unless the result wraps want.
func (h *fsmHarness) mustErr(cmd fsm.Command, want error) fsm.Result {
	h.t.Helper()
	res := h.apply(cmd)
	if !errors.Is(res.Err, want) {
		h.t.Fatalf("apply %T %+v: err %v, want %v", cmd, cmd, res.Err, want)
	}
	return res
}

func fsmPub(name string) []byte { return []byte("pub-" + name) }

// testHandleID and testHandleToken name the handle grant issues for a key.
func testHandleID(key string) string    { return "h-" + key }
func testHandleToken(key string) []byte { return []byte("token-" + key) }

// grantFor is the IssueHandle behind grant: the key's test handle for the
// default purpose, unlimited uses. Its zero time leaves the replicated
// clock where it is.
func grantFor(key string, ttl int64) fsm.IssueHandle {
	return fsm.IssueHandle{RequestID: "issue-" + key, HandleID: testHandleID(key),
		TokenHash: fsm.HandleTokenHash(testHandleToken(key)), Key: key, Purpose: fsm.DefaultPurpose,
		TTL: ttl, Actor: "admin"}
}

// grant issues the key's test handle with the longest TTL the config allows.
func (h *fsmHarness) grant(key string) *fsm.Handle {
	h.t.Helper()
	return h.mustOK(grantFor(key, int64(h.cfg.MaxHandleTTL))).Handle
}

// authorized returns c carrying the test handle of its key, as a client
// holding that handle would send it.
func authorized(c fsm.SignRequested) fsm.SignRequested {
	c.Handle, c.HandleProof = testHandleID(c.Key), fsm.HandleTokenHash(testHandleToken(c.Key))
	return c
}

// activeKey creates key name among members and reports every share, so the
// key ends active with public key fsmPub(name), and grants its test handle.
func (h *fsmHarness) activeKey(name, alg string, threshold int, members ...string) *fsm.Key {
	h.t.Helper()
	if alg == algECDSA {
		for _, m := range members {
			h.mustOK(fsm.PreParamsReady{Node: m})
		}
	}
	h.mustOK(fsm.CreateKey{RequestID: "create-" + name, Name: name, Algorithm: alg, Threshold: threshold, Members: members})
	var res fsm.Result
	for _, m := range members {
		res = h.mustOK(fsm.ShareStored{Key: name, Version: 1, Node: m, PublicKey: fsmPub(name)})
	}
	if res.Key.State() != fsm.KeyActive || res.Key.Primary != 1 {
		h.t.Fatalf("key %s: state %s primary v%d after all shares, want v1 active", name, res.Key.State(), res.Key.Primary)
	}
	h.grant(name)
	return res.Key
}

// fsmView is everything the FSM exposes, for comparing two FSMs.
type fsmView struct {
	Keys      []*fsm.Key
	Pending   []*fsm.Sign
	PreParams []string
	Stats     fsm.TableStats
}

func viewOf(f *fsm.FSM) fsmView {
	return fsmView{Keys: f.Keys(), Pending: f.PendingSigns(), PreParams: f.PreParamsReady(), Stats: f.TableStats()}
}

// sameResult reports how two results differ, or "" when they are equal,
// including the error text.
func sameResult(a, b fsm.Result) string {
	ea, eb := "", ""
	if a.Err != nil {
		ea = a.Err.Error()
	}
	if b.Err != nil {
		eb = b.Err.Error()
	}
	switch {
	case ea != eb:
		return fmt.Sprintf("err %q vs %q", ea, eb)
	case a.Duplicate != b.Duplicate:
		return fmt.Sprintf("duplicate %v vs %v", a.Duplicate, b.Duplicate)
	case !reflect.DeepEqual(a.Key, b.Key):
		return fmt.Sprintf("key %+v vs %+v", a.Key, b.Key)
	case !reflect.DeepEqual(a.Sign, b.Sign):
		return fmt.Sprintf("sign %+v vs %+v", a.Sign, b.Sign)
	case !reflect.DeepEqual(a.Handle, b.Handle):
		return fmt.Sprintf("handle %+v vs %+v", a.Handle, b.Handle)
	case !reflect.DeepEqual(a.Presig, b.Presig):
		return fmt.Sprintf("presig %+v vs %+v", a.Presig, b.Presig)
	case a.Version != b.Version:
		return fmt.Sprintf("version %d vs %d", a.Version, b.Version)
	case !slices.Equal(a.Ended, b.Ended):
		return fmt.Sprintf("ended %v vs %v", a.Ended, b.Ended)
	}
	return ""
}

// memSink is a raft.SnapshotSink that keeps the snapshot in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

// fsmTB is the part of testing.TB and *rapid.T the helpers need.
type fsmTB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// snapshotBytes takes a snapshot of f and persists it into memory.
func snapshotBytes(t fsmTB, f *fsm.FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	defer snap.Release()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	if !sink.closed || sink.cancelled {
		t.Fatalf("Persist: sink closed=%v cancelled=%v, want closed only", sink.closed, sink.cancelled)
	}
	return sink.Bytes()
}

// restoredFSM returns a fresh FSM restored from data.
func restoredFSM(t fsmTB, cfg fsm.FSMConfig, data []byte) *fsm.FSM {
	t.Helper()
	f, err := fsm.NewFSM(cfg, fsmCrypto{})
	if err != nil {
		t.Fatalf("NewFSM: %v", err)
	}
	if err := f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	return f
}

func digest(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func TestFSMConfigValidate(t *testing.T) {
	if err := fsm.DefaultFSMConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, mut := range []func(*fsm.FSMConfig){
		func(c *fsm.FSMConfig) { c.MaxKeys = 0 },
		func(c *fsm.FSMConfig) { c.MaxPendingSigns = 0 },
		func(c *fsm.FSMConfig) { c.MaxSignRecords = -1 },
		func(c *fsm.FSMConfig) { c.MaxPresigsPerKey = -1 },
		func(c *fsm.FSMConfig) { c.MaxRequestRecords = 0 },
		func(c *fsm.FSMConfig) { c.RequestRecordAge = 0 },
		func(c *fsm.FSMConfig) { c.MaxHandles = 0 },
		func(c *fsm.FSMConfig) { c.MaxHandleTTL = -1 },
		func(c *fsm.FSMConfig) { c.MinDestroyDelay = -1 },
	} {
		cfg := fsm.DefaultFSMConfig()
		mut(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want error", cfg)
		}
		if _, err := fsm.NewFSM(cfg, fsmCrypto{}); err == nil {
			t.Errorf("NewFSM(%+v) = nil error", cfg)
		}
	}
}

func TestEncodeDecodeRoundTripsEveryCommand(t *testing.T) {
	cmds := []fsm.Command{
		&fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algEd25519, Threshold: 1, Members: []string{"a", "b"}, Actor: "alice", Time: 7},
		&fsm.ShareStored{Key: "k", Version: 1, Node: "a", PublicKey: []byte{1, 2}},
		&fsm.KeygenFailed{Key: "k", Version: 1, Node: "a", Reason: "boom"},
		&fsm.SignRequested{RequestID: "s", Key: "k", Handle: "h", HandleProof: fsm.HandleTokenHash([]byte("t")), Purpose: "p",
			Version: 2, Digest: digest(1), Committee: []string{"a", "b"}, Actor: "bob", Time: 9, Presig: "ps"},
		&fsm.SignRetry{RequestID: "s", Attempt: 2, Committee: []string{"b", "a"}, Reason: "stalled"},
		&fsm.SignCompleted{RequestID: "s", Attempt: 2, Node: "a", Signature: []byte{3}},
		&fsm.SignFailed{RequestID: "s", Attempt: 2, Reason: "gave up"},
		&fsm.PreParamsReady{Node: "a"},
		&fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algEd25519, Threshold: 1, Members: []string{"a", "b"},
			Purposes: []string{"p", "q"}, DeletionAllowed: true},
		&fsm.IssueHandle{RequestID: "i", HandleID: "h", TokenHash: fsm.HandleTokenHash([]byte("t")), Key: "k", Purpose: "p",
			TTL: 5, MaxUses: 3, Actor: "alice", Time: 10},
		&fsm.RevokeHandle{RequestID: "rv", HandleID: "h", Actor: "alice", Time: 11},
		&fsm.ChangeKey{RequestID: "ck", Op: fsm.OpPolicy, Key: "k", Version: 2, DualSign: 3,
			MinSignVersion: new(uint32(2)), MinVerifyVersion: new(uint32(1)), DeletionAllowed: new(true), Delay: 4,
			Committee: []string{"a", "b"}, Actor: "alice", Time: 12},
		&fsm.DestroyDue{Key: "k", Version: 1, Time: 13},
		&fsm.ShareDestroyed{Key: "k", Version: 1, Node: "a"},
		&fsm.ShareRefreshed{Key: "k", Version: 1, Epoch: 2, Node: "a", PublicKey: []byte{4}},
		&fsm.RefreshFailed{Key: "k", Version: 1, Epoch: 2, Node: "a", Reason: "lost"},
	}
	for _, c := range cmds {
		data, err := fsm.Encode(c)
		if err != nil {
			t.Fatalf("Encode(%T): %v", c, err)
		}
		got, err := fsm.Decode(data)
		if err != nil {
			t.Fatalf("Decode(%s): %v", data, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip of %T: got %+v, want %+v", c, got, c)
		}
	}
	if _, err := fsm.Decode([]byte(`{"type":"rotate_key","body":{}}`)); !errors.Is(err, fsm.ErrUnknownCommand) {
		t.Errorf("Decode(unknown type): %v, want ErrUnknownCommand", err)
	}
}

func TestApplyRejectsUnknownCommandAndIgnoresNonCommandEntries(t *testing.T) {
	h := newFSMHarness(t, fsm.DefaultFSMConfig())
	out := h.f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: []byte(`{"type":"rotate_key","body":{}}`)})
	if res, _ := out.(fsm.Result); !errors.Is(res.Err, fsm.ErrUnknownCommand) {
		t.Fatalf("unknown type: %+v, want ErrUnknownCommand", out)
	}
	out = h.f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: []byte("not json")})
	if res, _ := out.(fsm.Result); res.Err == nil {
		t.Fatalf("garbage entry: %+v, want an error", out)
	}
	out = h.f.Apply(&raft.Log{Index: 3, Type: raft.LogNoop})
	if res, _ := out.(fsm.Result); res.Err != nil || res.Key != nil || res.Sign != nil {
		t.Fatalf("noop entry: %+v, want empty result", out)
	}
	if v := viewOf(h.f); len(v.Keys) != 0 || v.Stats.SignRecords != 0 || len(v.PreParams) != 0 {
		t.Fatalf("state changed by rejected entries: %+v", v)
	}
}

func TestApplyCreateKeyValidation(t *testing.T) {
	three := []string{"n1", "n2", "n3"}
	tests := []struct {
		name      string
		preparams []string
		cmd       fsm.CreateKey
		want      error
	}{
		{"unknown algorithm", nil, fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: "rsa", Threshold: 1, Members: three}, fsm.ErrInvalidCommand},
		{"threshold zero", nil, fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algEd25519, Threshold: 0, Members: three}, fsm.ErrInvalidCommand},
		{"threshold equals members", nil, fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algEd25519, Threshold: 3, Members: three}, fsm.ErrInvalidCommand},
		{"threshold above members", nil, fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algEd25519, Threshold: 4, Members: three}, fsm.ErrInvalidCommand},
		{"negative threshold", nil, fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algEd25519, Threshold: -1, Members: three}, fsm.ErrInvalidCommand},
		{"no members", nil, fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algEd25519, Threshold: 1}, fsm.ErrInvalidCommand},
		{"duplicate member", nil, fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2", "n1"}}, fsm.ErrInvalidCommand},
		{"empty name", nil, fsm.CreateKey{RequestID: "r", Algorithm: algEd25519, Threshold: 1, Members: three}, fsm.ErrInvalidCommand},
		{"empty request id", nil, fsm.CreateKey{Name: "k", Algorithm: algEd25519, Threshold: 1, Members: three}, fsm.ErrInvalidCommand},
		{"ecdsa without preparams", nil, fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algECDSA, Threshold: 1, Members: three}, fsm.ErrPreParamsNotReady},
		{"ecdsa with one member missing preparams", []string{"n1", "n3", "n9"}, fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algECDSA, Threshold: 1, Members: three}, fsm.ErrPreParamsNotReady},
		{"ecdsa with every member ready", three, fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algECDSA, Threshold: 2, Members: three}, nil},
		{"ed25519 needs no preparams", nil, fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algEd25519, Threshold: 1, Members: []string{"n2", "n1"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newFSMHarness(t, fsm.DefaultFSMConfig())
			for _, n := range tc.preparams {
				h.mustOK(fsm.PreParamsReady{Node: n})
			}
			res := h.apply(tc.cmd)
			if tc.want != nil {
				if !errors.Is(res.Err, tc.want) {
					t.Fatalf("err %v, want %v", res.Err, tc.want)
				}
				if res.Key != nil || len(h.f.Keys()) != 0 {
					t.Fatalf("rejected create left a key: result %+v, keys %+v", res.Key, h.f.Keys())
				}
				return
			}
			if res.Err != nil || res.Duplicate {
				t.Fatalf("result %+v, want a new key", res)
			}
			want := &fsm.Key{
				Name: tc.cmd.Name, Algorithm: tc.cmd.Algorithm, Threshold: tc.cmd.Threshold,
				Members:      slices.Sorted(slices.Values(tc.cmd.Members)),
				Purposes:     []string{fsm.DefaultPurpose},
				Versions:     []*fsm.Version{{Number: 1, State: fsm.KeyGenerating, CreatedIndex: h.idx, RequestID: tc.cmd.RequestID}},
				CreatedIndex: h.idx, CreateRequestID: tc.cmd.RequestID,
			}
			if !reflect.DeepEqual(res.Key, want) {
				t.Fatalf("key %+v, want %+v", res.Key, want)
			}
			if got, ok := h.f.Key(tc.cmd.Name); !ok || !reflect.DeepEqual(got, want) {
				t.Fatalf("Key(%q) = %+v, %v; want %+v", tc.cmd.Name, got, ok, want)
			}
		})
	}
}

func TestApplyCreateKeyIsIdempotentPerRequestID(t *testing.T) {
	h := newFSMHarness(t, fsm.DefaultFSMConfig())
	create := fsm.CreateKey{RequestID: "r1", Name: "k", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2", "n3"}, Time: 10}
	first := h.mustOK(create)
	h.mustOK(fsm.ShareStored{Key: "k", Version: 1, Node: "n2", PublicKey: fsmPub("k")})
	stored, _ := h.f.Key("k")

	again := h.mustOK(create)
	if !again.Duplicate || !reflect.DeepEqual(again.Key, stored) {
		t.Fatalf("same request id: %+v, want Duplicate with stored key %+v", again, stored)
	}
	if first.Duplicate || again.Key.CreatedIndex != first.Key.CreatedIndex {
		t.Fatalf("duplicate changed the key's creation: first %+v, again %+v", first.Key, again.Key)
	}

	other := create
	other.RequestID = "r2"
	h.mustErr(other, fsm.ErrKeyExists)
	otherAlg := create
	otherAlg.Algorithm = algECDSA
	h.mustErr(otherAlg, fsm.ErrKeyExists)
	if got, _ := h.f.Key("k"); !reflect.DeepEqual(got, stored) {
		t.Fatalf("key changed by rejected creates: %+v, want %+v", got, stored)
	}
	if n := len(h.f.Keys()); n != 1 {
		t.Fatalf("%d keys, want 1", n)
	}
}

func TestApplyCreateKeyHonoursMaxKeys(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	cfg.MaxKeys = 2
	h := newFSMHarness(t, cfg)
	for _, name := range []string{"a", "b"} {
		h.mustOK(fsm.CreateKey{RequestID: name, Name: name, Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2"}})
	}
	h.mustErr(fsm.CreateKey{RequestID: "c", Name: "c", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2"}}, fsm.ErrTooManyKeys)
	// A duplicate of an existing key is still recognised when the table is full.
	if res := h.mustOK(fsm.CreateKey{RequestID: "a", Name: "a", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2"}}); !res.Duplicate {
		t.Fatalf("duplicate create on a full table: %+v, want Duplicate", res)
	}
}

func TestApplyShareStored(t *testing.T) {
	members := []string{"n3", "n1", "n2"}
	setup := func(t *testing.T) *fsmHarness {
		h := newFSMHarness(t, fsm.DefaultFSMConfig())
		h.mustOK(fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algEd25519, Threshold: 1, Members: members})
		return h
	}

	t.Run("all members activate the key", func(t *testing.T) {
		h := setup(t)
		for i, n := range []string{"n2", "n3"} {
			res := h.mustOK(fsm.ShareStored{Key: "k", Version: 1, Node: n, PublicKey: fsmPub("k")})
			if res.Key.State() != fsm.KeyGenerating || len(res.Key.Version(1).Confirmed) != i+1 || res.Key.Primary != 0 || res.Version != 1 {
				t.Fatalf("after %d shares: %+v, want generating", i+1, res.Key)
			}
		}
		res := h.mustOK(fsm.ShareStored{Key: "k", Version: 1, Node: "n1", PublicKey: fsmPub("k")})
		if res.Key.State() != fsm.KeyActive || !bytes.Equal(res.Key.PublicKey(), fsmPub("k")) || res.Key.Primary != 1 {
			t.Fatalf("after all shares: %+v, want v1 active and primary with the public key", res.Key)
		}
		if !slices.Equal(res.Key.Version(1).Confirmed, []string{"n1", "n2", "n3"}) {
			t.Fatalf("confirmed %v, want sorted members", res.Key.Version(1).Confirmed)
		}
		h.mustErr(fsm.ShareStored{Key: "k", Version: 1, Node: "n1", PublicKey: fsmPub("k")}, fsm.ErrStale)
	})

	t.Run("repeated report is a duplicate", func(t *testing.T) {
		h := setup(t)
		h.mustOK(fsm.ShareStored{Key: "k", Version: 1, Node: "n1", PublicKey: fsmPub("k")})
		res := h.mustOK(fsm.ShareStored{Key: "k", Version: 1, Node: "n1", PublicKey: fsmPub("k")})
		if !res.Duplicate || len(res.Key.Version(1).Confirmed) != 1 {
			t.Fatalf("repeated share: %+v, want Duplicate with one confirmation", res)
		}
	})

	t.Run("disagreeing public key fails the key", func(t *testing.T) {
		h := setup(t)
		h.mustOK(fsm.ShareStored{Key: "k", Version: 1, Node: "n1", PublicKey: fsmPub("k")})
		res := h.mustOK(fsm.ShareStored{Key: "k", Version: 1, Node: "n2", PublicKey: []byte("other")})
		if res.Key.State() != fsm.KeyFailed || !strings.Contains(res.Key.Version(1).Failure, "n2") || res.Key.Primary != 0 {
			t.Fatalf("disagreement: %+v, want failed naming n2", res.Key)
		}
		h.mustErr(fsm.ShareStored{Key: "k", Version: 1, Node: "n3", PublicKey: fsmPub("k")}, fsm.ErrStale)
		if k, _ := h.f.Key("k"); k.State() != fsm.KeyFailed {
			t.Fatalf("key %+v, want to stay failed", k)
		}
	})

	rejects := []struct {
		name string
		cmd  fsm.ShareStored
		want error
	}{
		{"non-member", fsm.ShareStored{Key: "k", Version: 1, Node: "n9", PublicKey: fsmPub("k")}, fsm.ErrInvalidCommand},
		{"empty public key", fsm.ShareStored{Key: "k", Version: 1, Node: "n1"}, fsm.ErrInvalidCommand},
		{"unknown key", fsm.ShareStored{Key: "x", Version: 1, Node: "n1", PublicKey: fsmPub("k")}, fsm.ErrUnknownKey},
		{"other version", fsm.ShareStored{Key: "k", Version: 2, Node: "n1", PublicKey: fsmPub("k")}, fsm.ErrStale},
	}
	for _, tc := range rejects {
		t.Run(tc.name, func(t *testing.T) {
			h := setup(t)
			before, _ := h.f.Key("k")
			h.mustErr(tc.cmd, tc.want)
			if after, _ := h.f.Key("k"); !reflect.DeepEqual(after, before) {
				t.Fatalf("rejected share changed the key: %+v -> %+v", before, after)
			}
		})
	}
}

func TestApplyKeygenFailed(t *testing.T) {
	h := newFSMHarness(t, fsm.DefaultFSMConfig())
	h.mustOK(fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2"}})
	h.mustErr(fsm.KeygenFailed{Key: "x", Version: 1, Node: "n1", Reason: "boom"}, fsm.ErrUnknownKey)
	h.mustErr(fsm.KeygenFailed{Key: "k", Version: 2, Node: "n1", Reason: "boom"}, fsm.ErrStale)
	res := h.mustOK(fsm.KeygenFailed{Key: "k", Version: 1, Node: "n1", Reason: "boom"})
	if res.Key.State() != fsm.KeyFailed || res.Key.Version(1).Failure != "n1: boom" {
		t.Fatalf("keygen failed: %+v, want failed with reason", res.Key)
	}
	h.mustErr(fsm.KeygenFailed{Key: "k", Version: 1, Node: "n2", Reason: "again"}, fsm.ErrStale)
	h.mustErr(fsm.ShareStored{Key: "k", Version: 1, Node: "n2", PublicKey: fsmPub("k")}, fsm.ErrStale)
	h.grant("k")
	h.mustErr(authorized(fsm.SignRequested{RequestID: "s", Key: "k", Digest: digest(1), Committee: []string{"n1", "n2"}}), fsm.ErrKeyNotActive)

	active := h.activeKey("a", algEd25519, 1, "n1", "n2")
	h.mustErr(fsm.KeygenFailed{Key: "a", Version: 1, Node: "n1", Reason: "late"}, fsm.ErrStale)
	if k, _ := h.f.Key("a"); !reflect.DeepEqual(k, active) {
		t.Fatalf("late keygen failure changed active key: %+v", k)
	}
}

// signFixture has an active ed25519 key "ed" (2-of-4 among n1..n4) and an
// active ECDSA key "ec" (2-of-3 among n1..n3), and a generating key "gen".
func signFixture(t *testing.T, cfg fsm.FSMConfig) *fsmHarness {
	t.Helper()
	h := newFSMHarness(t, cfg)
	h.activeKey("ed", algEd25519, 1, "n1", "n2", "n3", "n4")
	h.activeKey("ec", algECDSA, 2, "n1", "n2", "n3")
	h.mustOK(fsm.CreateKey{RequestID: "create-gen", Name: "gen", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2"}})
	h.grant("gen")
	return h
}

func TestApplySignRequestedValidation(t *testing.T) {
	tests := []struct {
		name string
		cmd  fsm.SignRequested
		want error
	}{
		// The handle is checked first, so a caller without one learns
		// nothing about the key, not even whether it exists.
		{"unknown key", authorized(fsm.SignRequested{RequestID: "s", Key: "nope", Digest: digest(1), Committee: []string{"n1", "n2"}}), fsm.ErrHandleDenied},
		{"no handle", fsm.SignRequested{RequestID: "s", Key: "ed", Digest: digest(1), Committee: []string{"n1", "n2"}}, fsm.ErrHandleDenied},
		{"another key's handle", fsm.SignRequested{RequestID: "s", Key: "ed", Handle: testHandleID("ec"), HandleProof: fsm.HandleTokenHash(testHandleToken("ec")),
			Digest: digest(1), Committee: []string{"n1", "n2"}}, fsm.ErrHandleDenied},
		{"generating key", authorized(fsm.SignRequested{RequestID: "s", Key: "gen", Digest: digest(1), Committee: []string{"n1", "n2"}}), fsm.ErrKeyNotActive},
		{"ecdsa digest too short", authorized(fsm.SignRequested{RequestID: "s", Key: "ec", Digest: digest(1)[:31], Committee: []string{"n1", "n2", "n3"}}), fsm.ErrInvalidCommand},
		{"ecdsa digest too long", authorized(fsm.SignRequested{RequestID: "s", Key: "ec", Digest: append(digest(1), 0), Committee: []string{"n1", "n2", "n3"}}), fsm.ErrInvalidCommand},
		{"ed25519 empty message", authorized(fsm.SignRequested{RequestID: "s", Key: "ed", Committee: []string{"n1", "n2"}}), fsm.ErrInvalidCommand},
		{"ed25519 message too long", authorized(fsm.SignRequested{RequestID: "s", Key: "ed", Digest: make([]byte, 1025), Committee: []string{"n1", "n2"}}), fsm.ErrInvalidCommand},
		{"committee too small", authorized(fsm.SignRequested{RequestID: "s", Key: "ec", Digest: digest(1), Committee: []string{"n1", "n2"}}), fsm.ErrInvalidCommand},
		{"committee too large", authorized(fsm.SignRequested{RequestID: "s", Key: "ed", Digest: digest(1), Committee: []string{"n1", "n2", "n3"}}), fsm.ErrInvalidCommand},
		{"committee non-member", authorized(fsm.SignRequested{RequestID: "s", Key: "ec", Digest: digest(1), Committee: []string{"n1", "n2", "n4"}}), fsm.ErrInvalidCommand},
		{"committee duplicate", authorized(fsm.SignRequested{RequestID: "s", Key: "ed", Digest: digest(1), Committee: []string{"n2", "n2"}}), fsm.ErrInvalidCommand},
		{"empty request id", authorized(fsm.SignRequested{Key: "ed", Digest: digest(1), Committee: []string{"n1", "n2"}}), fsm.ErrInvalidCommand},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := signFixture(t, fsm.DefaultFSMConfig())
			before := viewOf(h.f)
			res := h.mustErr(tc.cmd, tc.want)
			if res.Sign != nil || res.Duplicate {
				t.Fatalf("rejected request returned %+v", res)
			}
			if _, ok := h.f.Sign(tc.cmd.RequestID); ok {
				t.Fatalf("rejected request was recorded")
			}
			if after := viewOf(h.f); !reflect.DeepEqual(after, before) {
				t.Fatalf("state changed: %+v -> %+v", before, after)
			}
		})
	}
	t.Run("accepted bounds", func(t *testing.T) {
		h := signFixture(t, fsm.DefaultFSMConfig())
		h.mustOK(authorized(fsm.SignRequested{RequestID: "one", Key: "ed", Digest: []byte{7}, Committee: []string{"n4", "n1"}}))
		h.mustOK(authorized(fsm.SignRequested{RequestID: "max", Key: "ed", Digest: make([]byte, 1024), Committee: []string{"n1", "n2"}}))
		h.mustOK(authorized(fsm.SignRequested{RequestID: "ec", Key: "ec", Digest: digest(1), Committee: []string{"n3", "n1", "n2"}}))
		if got := h.f.TableStats(); got.PendingSigns != 3 || got.SignRecords != 3 {
			t.Fatalf("stats %+v, want 3 pending", got)
		}
	})
}

func TestApplySignRequestedRecordsPendingRequest(t *testing.T) {
	h := signFixture(t, fsm.DefaultFSMConfig())
	h.mustOK(fsm.CreateKey{RequestID: "t", Name: "t", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2"}, Time: 500})
	res := h.mustOK(authorized(fsm.SignRequested{RequestID: "s1", Key: "ec", Digest: digest(9), Committee: []string{"n2", "n3", "n1"}, Actor: "alice", Time: 600}))
	want := &fsm.Sign{
		RequestID: "s1", Key: "ec", Version: 1, DigestHash: sha256.Sum256(digest(9)), Digest: digest(9),
		State: fsm.SignStatePending, Attempt: 1, Committee: []string{"n2", "n3", "n1"},
		SessionIndex: h.idx, Actor: "alice", Time: 600, HandleProof: fsm.HandleTokenHash(testHandleToken("ec")),
	}
	if res.Duplicate || !reflect.DeepEqual(res.Sign, want) {
		t.Fatalf("result %+v, want %+v", res, want)
	}
	if got, ok := h.f.Sign("s1"); !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("Sign(s1) = %+v, %v", got, ok)
	}
	if p := h.f.PendingSigns(); len(p) != 1 || !reflect.DeepEqual(p[0], want) {
		t.Fatalf("PendingSigns = %+v", p)
	}
}

func TestApplySignRequestIsIdempotent(t *testing.T) {
	h := signFixture(t, fsm.DefaultFSMConfig())
	req := authorized(fsm.SignRequested{RequestID: "s1", Key: "ed", Digest: digest(1), Committee: []string{"n1", "n2"}, Actor: "alice", Time: 1})
	first := h.mustOK(req)

	// While pending: a retry of the client's call sees the pending record and
	// starts nothing new, even with another committee or time.
	again := req
	again.Committee = []string{"n3", "n4"}
	again.Time = 2
	dup := h.mustOK(again)
	if !dup.Duplicate || !reflect.DeepEqual(dup.Sign, first.Sign) {
		t.Fatalf("pending duplicate: %+v, want the stored record %+v", dup, first.Sign)
	}
	if st := h.f.TableStats(); st.PendingSigns != 1 {
		t.Fatalf("duplicate added a pending request: %+v", st)
	}

	conflict := req
	conflict.Digest = digest(2)
	h.mustErr(conflict, fsm.ErrRequestConflict)
	otherKey := req
	otherKey.Key = "ec"
	otherKey.Committee = []string{"n1", "n2", "n3"}
	h.mustErr(otherKey, fsm.ErrRequestConflict)

	sig := fsmSig(fsmPub("ed"), digest(1), "")
	done := h.mustOK(fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n2", Signature: sig})

	// After completion: the same call returns the same signature bytes.
	dup = h.mustOK(req)
	if !dup.Duplicate || dup.Sign.State != fsm.SignStateCompleted || !bytes.Equal(dup.Sign.Signature, sig) {
		t.Fatalf("completed duplicate: %+v, want the stored signature", dup.Sign)
	}
	if !reflect.DeepEqual(dup.Sign, done.Sign) {
		t.Fatalf("completed duplicate %+v differs from completion %+v", dup.Sign, done.Sign)
	}
	h.mustErr(conflict, fsm.ErrRequestConflict)
	if s, _ := h.f.Sign("s1"); !bytes.Equal(s.Signature, sig) || s.State != fsm.SignStateCompleted {
		t.Fatalf("record changed by conflicting request: %+v", s)
	}
}

func TestApplyFailedSignRequestMayBeRerun(t *testing.T) {
	h := signFixture(t, fsm.DefaultFSMConfig())
	req := authorized(fsm.SignRequested{RequestID: "s1", Key: "ed", Digest: digest(1), Committee: []string{"n1", "n2"}})
	h.mustOK(req)
	failed := h.mustOK(fsm.SignFailed{RequestID: "s1", Attempt: 1, Reason: "timeout"})
	if failed.Sign.State != fsm.SignStateFailed || failed.Sign.Digest != nil || failed.Sign.Reason != "timeout" {
		t.Fatalf("failed record %+v", failed.Sign)
	}

	conflict := req
	conflict.Digest = digest(2)
	h.mustErr(conflict, fsm.ErrRequestConflict)

	rerun := h.mustOK(req)
	if rerun.Duplicate || rerun.Sign.State != fsm.SignStatePending || rerun.Sign.Attempt != 1 || rerun.Sign.SessionIndex != h.idx {
		t.Fatalf("rerun %+v, want a fresh pending request started at index %d", rerun, h.idx)
	}
	if rerun.Sign.Reason != "" || !bytes.Equal(rerun.Sign.Digest, digest(1)) {
		t.Fatalf("rerun kept stale fields: %+v", rerun.Sign)
	}
	if st := h.f.TableStats(); st.PendingSigns != 1 || st.SignRecords != 1 {
		t.Fatalf("stats after rerun %+v, want one pending record", st)
	}
	h.mustOK(fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n1", Signature: fsmSig(fsmPub("ed"), digest(1), "")})
}

// A retry must present the handle the request was made with: the request
// id and its input are no secret, the handle is. Another handle is denied
// even when it would grant a new request, before any duplicate or re-run
// is decided; other input is still a conflict first.
func TestApplySignRetryMustPresentTheOriginalHandle(t *testing.T) {
	h := signFixture(t, fsm.DefaultFSMConfig())
	second := fsm.IssueHandle{RequestID: "issue-ed-2", HandleID: "h-ed-2", TokenHash: fsm.HandleTokenHash([]byte("token-ed-2")),
		Key: "ed", Purpose: fsm.DefaultPurpose, TTL: int64(time.Hour), Actor: "admin"}
	h.mustOK(second)
	req := func(id string) fsm.SignRequested {
		return authorized(fsm.SignRequested{RequestID: id, Key: "ed", Digest: digest(1), Committee: []string{"n1", "n2"}})
	}
	underSecond := func(id string) fsm.SignRequested {
		c := req(id)
		c.Handle, c.HandleProof = second.HandleID, fsm.HandleTokenHash([]byte("token-ed-2"))
		return c
	}
	wrongToken := func(id string) fsm.SignRequested {
		c := req(id)
		c.HandleProof = fsm.HandleTokenHash([]byte("guess"))
		return c
	}
	noHandle := func(id string) fsm.SignRequested {
		c := req(id)
		c.Handle, c.HandleProof = "", [32]byte{}
		return c
	}
	// denied applies c, wants it denied as a retry under another handle,
	// and checks that nothing changed, not even a handle's use count.
	denied := func(c fsm.SignRequested) {
		t.Helper()
		before := snapshotBytes(t, h.f)
		res := h.mustErr(c, fsm.ErrHandleDenied)
		if res.Sign != nil || res.Duplicate || !strings.Contains(res.Err.Error(), "not the handle the request was made with") {
			t.Fatalf("retry under handle %q: %+v", c.Handle, res)
		}
		if after := snapshotBytes(t, h.f); !bytes.Equal(after, before) {
			t.Fatalf("a denied retry changed the state:\n%s\n%s", before, after)
		}
	}

	first := h.mustOK(req("s1"))
	if first.Sign.HandleProof != fsm.HandleTokenHash(testHandleToken("ed")) {
		t.Fatalf("record proof %x, want the request's", first.Sign.HandleProof)
	}
	denied(underSecond("s1")) // a handle that grants a new request
	denied(wrongToken("s1"))
	denied(noHandle("s1"))
	// Other input under the id is a conflict, whatever the handle.
	conflict := underSecond("s1")
	conflict.Digest = digest(2)
	h.mustErr(conflict, fsm.ErrRequestConflict)
	if dup := h.mustOK(req("s1")); !dup.Duplicate || !reflect.DeepEqual(dup.Sign, first.Sign) {
		t.Fatalf("retry under the first handle: %+v, want a duplicate", dup)
	}

	// Finished: the signature goes to the first handle's retries only.
	h.mustOK(fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n1", Signature: fsmSig(fsmPub("ed"), digest(1), "")})
	denied(underSecond("s1"))
	if dup := h.mustOK(req("s1")); !dup.Duplicate || dup.Sign.Signature == nil {
		t.Fatalf("completed retry: %+v", dup)
	}

	// Failed: a re-run under another handle is denied and leaves the
	// failed record; under the first handle it runs again.
	h.mustOK(req("s2"))
	h.mustOK(fsm.SignFailed{RequestID: "s2", Attempt: 1, Reason: "timeout"})
	denied(underSecond("s2"))
	if s, _ := h.f.Sign("s2"); s.State != fsm.SignStateFailed {
		t.Fatalf("record after a denied re-run %+v, want failed", s)
	}
	if rerun := h.mustOK(req("s2")); rerun.Duplicate || rerun.Sign.State != fsm.SignStatePending {
		t.Fatalf("re-run under the first handle: %+v", rerun)
	}

	// A request made under the second handle is bound to it in turn.
	h.mustOK(underSecond("s3"))
	denied(req("s3"))
	if dup := h.mustOK(underSecond("s3")); !dup.Duplicate {
		t.Fatalf("retry under the second handle: %+v, want a duplicate", dup)
	}
	if hd, _ := h.f.Handle(second.HandleID); hd.Uses != 1 {
		t.Fatalf("second handle used %d times, want 1", hd.Uses)
	}
}

func TestApplySignRetryAttemptRules(t *testing.T) {
	h := signFixture(t, fsm.DefaultFSMConfig())
	h.mustOK(authorized(fsm.SignRequested{RequestID: "s1", Key: "ec", Digest: digest(1), Committee: []string{"n1", "n2", "n3"}}))
	before, _ := h.f.Sign("s1")

	for _, c := range []fsm.SignRetry{
		{RequestID: "s1", Attempt: 1, Committee: []string{"n1", "n2", "n3"}},
		{RequestID: "s1", Attempt: 3, Committee: []string{"n1", "n2", "n3"}},
		{RequestID: "s1", Attempt: 0, Committee: []string{"n1", "n2", "n3"}},
		{RequestID: "nope", Attempt: 2, Committee: []string{"n1", "n2", "n3"}},
	} {
		h.mustErr(c, fsm.ErrStale)
	}
	h.mustErr(fsm.SignRetry{RequestID: "s1", Attempt: 2, Committee: []string{"n1", "n2"}}, fsm.ErrInvalidCommand)
	h.mustErr(fsm.SignRetry{RequestID: "s1", Attempt: 2, Committee: []string{"n1", "n2", "n9"}}, fsm.ErrInvalidCommand)
	if s, _ := h.f.Sign("s1"); !reflect.DeepEqual(s, before) {
		t.Fatalf("rejected retries changed the record: %+v -> %+v", before, s)
	}

	res := h.mustOK(fsm.SignRetry{RequestID: "s1", Attempt: 2, Committee: []string{"n3", "n2", "n1"}, Reason: "n4 slow"})
	if res.Sign.Attempt != 2 || res.Sign.SessionIndex != h.idx || res.Sign.Reason != "n4 slow" ||
		!slices.Equal(res.Sign.Committee, []string{"n3", "n2", "n1"}) || res.Sign.State != fsm.SignStatePending {
		t.Fatalf("retry result %+v", res.Sign)
	}
	h.mustErr(fsm.SignRetry{RequestID: "s1", Attempt: 2, Committee: []string{"n1", "n2", "n3"}}, fsm.ErrStale)
	h.mustErr(fsm.SignFailed{RequestID: "s1", Attempt: 1}, fsm.ErrStale)
	h.mustOK(fsm.SignRetry{RequestID: "s1", Attempt: 3, Committee: []string{"n1", "n2", "n3"}})

	// A signature from an earlier attempt is as good as any.
	h.mustOK(fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n1", Signature: fsmSig(fsmPub("ec"), digest(1), "")})
	h.mustErr(fsm.SignRetry{RequestID: "s1", Attempt: 4, Committee: []string{"n1", "n2", "n3"}}, fsm.ErrStale)
}

func TestApplySignCompleted(t *testing.T) {
	h := signFixture(t, fsm.DefaultFSMConfig())
	h.mustOK(authorized(fsm.SignRequested{RequestID: "s1", Key: "ed", Digest: digest(5), Committee: []string{"n1", "n2"}}))
	h.mustErr(fsm.SignCompleted{RequestID: "nope", Attempt: 1, Node: "n1", Signature: fsmSig(fsmPub("ed"), digest(5), "")}, fsm.ErrStale)

	before, beforeView := snapshotBytes(t, h.f), viewOf(h.f)
	for _, bad := range [][]byte{
		nil,
		fsmSig(fsmPub("ed"), digest(6), ""), // other message
		fsmSig(fsmPub("ec"), digest(5), ""), // other key
		fsmSig(fsmPub("ed"), digest(5), "")[:31],
	} {
		res := h.mustErr(fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n1", Signature: bad}, fsm.ErrBadSignature)
		if res.Sign != nil {
			t.Fatalf("bad signature returned a record: %+v", res.Sign)
		}
	}
	if after := snapshotBytes(t, h.f); !bytes.Equal(after, before) || !reflect.DeepEqual(viewOf(h.f), beforeView) {
		t.Fatalf("bad signatures changed state:\n%s\n%s", before, after)
	}

	sig := fsmSig(fsmPub("ed"), digest(5), "first")
	res := h.mustOK(fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n2", Signature: sig})
	s := res.Sign
	if res.Duplicate || s.State != fsm.SignStateCompleted || !bytes.Equal(s.Signature, sig) || s.Signer != "n2" || s.Index != h.idx {
		t.Fatalf("completion %+v", res)
	}
	if s.Digest != nil || s.DigestHash != sha256.Sum256(digest(5)) {
		t.Fatalf("completed record digest %x hash %x, want digest dropped and hash kept", s.Digest, s.DigestHash)
	}
	if st := h.f.TableStats(); st.PendingSigns != 0 || st.SignRecords != 1 || len(h.f.PendingSigns()) != 0 {
		t.Fatalf("stats after completion %+v", st)
	}

	second := h.mustOK(fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n1", Signature: fsmSig(fsmPub("ed"), digest(5), "second")})
	if !second.Duplicate || !bytes.Equal(second.Sign.Signature, sig) || second.Sign.Signer != "n2" {
		t.Fatalf("second completion %+v, want Duplicate keeping the first signature", second.Sign)
	}
	badAfter := h.mustOK(fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n1", Signature: []byte("junk")})
	if !badAfter.Duplicate || !bytes.Equal(badAfter.Sign.Signature, sig) {
		t.Fatalf("junk after completion %+v, want Duplicate", badAfter.Sign)
	}
	if got, _ := h.f.Sign("s1"); !reflect.DeepEqual(got, s) {
		t.Fatalf("stored record %+v, want %+v", got, s)
	}
	h.mustErr(fsm.SignFailed{RequestID: "s1", Attempt: 1}, fsm.ErrStale)
}

func TestApplySignFailed(t *testing.T) {
	h := signFixture(t, fsm.DefaultFSMConfig())
	h.mustOK(authorized(fsm.SignRequested{RequestID: "s1", Key: "ed", Digest: digest(5), Committee: []string{"n1", "n2"}}))
	h.mustOK(fsm.SignRetry{RequestID: "s1", Attempt: 2, Committee: []string{"n3", "n4"}})
	h.mustErr(fsm.SignFailed{RequestID: "s1", Attempt: 1, Reason: "old"}, fsm.ErrStale)
	h.mustErr(fsm.SignFailed{RequestID: "s1", Attempt: 3, Reason: "future"}, fsm.ErrStale)
	h.mustErr(fsm.SignFailed{RequestID: "nope", Attempt: 1}, fsm.ErrStale)
	res := h.mustOK(fsm.SignFailed{RequestID: "s1", Attempt: 2, Reason: "no quorum"})
	if s := res.Sign; s.State != fsm.SignStateFailed || s.Reason != "no quorum" || s.Digest != nil || s.Index != h.idx || s.Signature != nil {
		t.Fatalf("failed record %+v", s)
	}
	if st := h.f.TableStats(); st.PendingSigns != 0 || st.SignRecords != 1 {
		t.Fatalf("stats %+v", st)
	}
	h.mustErr(fsm.SignFailed{RequestID: "s1", Attempt: 2}, fsm.ErrStale)
	late := h.mustOK(fsm.SignCompleted{RequestID: "s1", Attempt: 2, Node: "n3", Signature: fsmSig(fsmPub("ed"), digest(5), "")})
	if !late.Duplicate || late.Sign.State != fsm.SignStateFailed || late.Sign.Signature != nil {
		t.Fatalf("signature after failure %+v, want Duplicate of the failed record", late.Sign)
	}
}

// edSignRequest is an authorised request id to sign digest(d) with key ed
// on committee n1, n2.
func edSignRequest(id string, d byte) fsm.SignRequested {
	return authorized(fsm.SignRequested{RequestID: id, Key: "ed", Digest: digest(d), Committee: []string{"n1", "n2"}})
}

func TestApplyMaxPendingSigns(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	cfg.MaxPendingSigns = 2
	h := signFixture(t, cfg)
	req := edSignRequest
	h.mustOK(req("a", 1))
	h.mustOK(req("b", 2))
	h.mustErr(req("c", 3), fsm.ErrTooManyPending)
	if _, ok := h.f.Sign("c"); ok {
		t.Fatal("rejected request was recorded")
	}
	if res := h.mustOK(req("a", 1)); !res.Duplicate {
		t.Fatalf("duplicate on a full table: %+v, want Duplicate", res)
	}
	h.mustOK(fsm.SignCompleted{RequestID: "a", Attempt: 1, Node: "n1", Signature: fsmSig(fsmPub("ed"), digest(1), "")})
	h.mustOK(req("c", 3))
	h.mustErr(req("d", 4), fsm.ErrTooManyPending)
	h.mustOK(fsm.SignFailed{RequestID: "b", Attempt: 1})
	h.mustOK(req("d", 4))
	if st := h.f.TableStats(); st.PendingSigns != 2 || st.SignRecords != 4 {
		t.Fatalf("stats %+v, want 2 pending of 4 records", st)
	}
}

func TestApplyEvictsOldestFinishedSignRecords(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	cfg.MaxSignRecords = 3
	h := signFixture(t, cfg)
	req := edSignRequest
	complete := func(id string, d byte) {
		h.mustOK(fsm.SignCompleted{RequestID: id, Attempt: 1, Node: "n1", Signature: fsmSig(fsmPub("ed"), digest(d), "")})
	}
	// p1 and p2 stay pending throughout and must never be evicted.
	h.mustOK(req("p1", 100))
	for i := byte(1); i <= 3; i++ {
		h.mustOK(req(fmt.Sprint("r", i), i))
	}
	h.mustOK(req("p2", 101))
	// Finish in an order unlike the request order: eviction follows finishing.
	complete("r2", 2)
	h.mustOK(fsm.SignFailed{RequestID: "r1", Attempt: 1})
	complete("r3", 3)
	for _, id := range []string{"p1", "p2", "r1", "r2", "r3"} {
		if _, ok := h.f.Sign(id); !ok {
			t.Fatalf("%s evicted before the bound was reached", id)
		}
	}
	h.mustOK(req("r4", 4))
	complete("r4", 4) // evicts r2, the oldest finished
	if _, ok := h.f.Sign("r2"); ok {
		t.Fatal("r2 kept; want the oldest finished record evicted")
	}
	for _, id := range []string{"p1", "p2", "r1", "r3", "r4"} {
		if _, ok := h.f.Sign(id); !ok {
			t.Fatalf("%s evicted", id)
		}
	}
	if st := h.f.TableStats(); st.SignRecords != 5 || st.PendingSigns != 2 || st.MaxSignRecords != 3 {
		t.Fatalf("stats %+v, want 3 finished + 2 pending", st)
	}

	// An evicted id is free again: it no longer conflicts.
	if res := h.mustOK(req("r2", 77)); res.Duplicate || res.Sign.State != fsm.SignStatePending {
		t.Fatalf("reuse of evicted id: %+v", res)
	}
	// A re-run of the failed r1 takes it out of the finished list: the next
	// finish fits under the bound and evicts nothing (and never the pending
	// r1); the one after evicts r3.
	h.mustOK(req("r1", 1))
	h.mustOK(req("r5", 5))
	complete("r5", 5)
	for _, id := range []string{"p1", "p2", "r1", "r2", "r3", "r4", "r5"} {
		if _, ok := h.f.Sign(id); !ok {
			t.Fatalf("%s evicted while the finished list was within bound", id)
		}
	}
	h.mustOK(req("r6", 6))
	complete("r6", 6)
	if _, ok := h.f.Sign("r3"); ok {
		t.Fatal("r3 kept; want it evicted as the oldest finished record")
	}
	for _, id := range []string{"p1", "p2", "r1", "r2", "r4", "r5", "r6"} {
		if _, ok := h.f.Sign(id); !ok {
			t.Fatalf("%s evicted", id)
		}
	}
	// Finishing many more never evicts the pending ones.
	for i := byte(10); i < 20; i++ {
		id := fmt.Sprint("x", i)
		h.mustOK(req(id, i))
		complete(id, i)
	}
	for _, id := range []string{"p1", "p2", "r1", "r2"} {
		if s, ok := h.f.Sign(id); !ok || s.State != fsm.SignStatePending {
			t.Fatalf("pending %s: %+v, %v", id, s, ok)
		}
	}
	if st := h.f.TableStats(); st.SignRecords != 3+4 || st.PendingSigns != 4 {
		t.Fatalf("stats %+v, want 3 finished + 4 pending", st)
	}
}

func TestApplyKeepsTimeMonotonic(t *testing.T) {
	h := newFSMHarness(t, fsm.DefaultFSMConfig())
	res := h.mustOK(fsm.CreateKey{RequestID: "a", Name: "a", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2"}, Time: 100})
	if res.Key.CreatedTime != 100 {
		t.Fatalf("created time %d, want 100", res.Key.CreatedTime)
	}
	res = h.mustOK(fsm.CreateKey{RequestID: "b", Name: "b", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2"}, Time: 40})
	if res.Key.CreatedTime != 100 {
		t.Fatalf("created time %d after an older command, want 100", res.Key.CreatedTime)
	}
	for _, n := range []string{"n1", "n2"} {
		h.mustOK(fsm.ShareStored{Key: "a", Version: 1, Node: n, PublicKey: fsmPub("a")})
	}
	h.grant("a")
	sr := h.mustOK(authorized(fsm.SignRequested{RequestID: "s1", Key: "a", Digest: digest(1), Committee: []string{"n1", "n2"}, Time: 50}))
	if sr.Sign.Time != 100 {
		t.Fatalf("sign time %d, want 100", sr.Sign.Time)
	}
	h.mustOK(authorized(fsm.SignRequested{RequestID: "s2", Key: "a", Digest: digest(1), Committee: []string{"n1", "n2"}, Time: 300}))
	sr = h.mustOK(authorized(fsm.SignRequested{RequestID: "s3", Key: "a", Digest: digest(1), Committee: []string{"n1", "n2"}, Time: 200}))
	if sr.Sign.Time != 300 {
		t.Fatalf("sign time %d, want 300", sr.Sign.Time)
	}
	sr = h.mustOK(authorized(fsm.SignRequested{RequestID: "s4", Key: "a", Digest: digest(1), Committee: []string{"n1", "n2"}, Time: 301}))
	if sr.Sign.Time != 301 {
		t.Fatalf("sign time %d, want 301", sr.Sign.Time)
	}
}

func TestApplyNotifiesObserverOfEveryEntry(t *testing.T) {
	h := newFSMHarness(t, fsm.DefaultFSMConfig())
	cmds := []fsm.Command{
		fsm.PreParamsReady{Node: "n1"},
		fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algECDSA, Threshold: 1, Members: []string{"n1", "n2"}},
		fsm.CreateKey{RequestID: "r", Name: "k", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2"}},
		fsm.ShareStored{Key: "k", Version: 1, Node: "n1", PublicKey: fsmPub("k")},
		fsm.ShareStored{Key: "k", Version: 1, Node: "n2", PublicKey: fsmPub("k")},
		grantFor("k", int64(time.Hour)),
		authorized(fsm.SignRequested{RequestID: "s", Key: "k", Digest: digest(1), Committee: []string{"n1", "n2"}}),
		authorized(fsm.SignRequested{RequestID: "s", Key: "k", Digest: digest(1), Committee: []string{"n1", "n2"}}),
		fsm.SignCompleted{RequestID: "s", Attempt: 1, Node: "n1", Signature: []byte("bad")},
		fsm.SignCompleted{RequestID: "s", Attempt: 1, Node: "n1", Signature: fsmSig(fsmPub("k"), digest(1), "")},
	}
	var results []fsm.Result
	for _, c := range cmds {
		results = append(results, h.apply(c))
	}
	seen := h.obs.entries()
	if len(seen) != len(cmds) {
		t.Fatalf("observer saw %d entries, want %d", len(seen), len(cmds))
	}
	for i, e := range seen {
		if e.index != uint64(i+1) {
			t.Errorf("entry %d: index %d", i, e.index)
		}
		data, _ := fsm.Encode(cmds[i])
		want, _ := fsm.Decode(data)
		if !reflect.DeepEqual(e.cmd, want) {
			t.Errorf("entry %d: command %+v, want %+v", i, e.cmd, want)
		}
		if d := sameResult(e.res, results[i]); d != "" {
			t.Errorf("entry %d: observer result differs from Apply's: %s", i, d)
		}
	}
	if !errors.Is(seen[1].res.Err, fsm.ErrPreParamsNotReady) || seen[5].res.Handle == nil || !seen[7].res.Duplicate ||
		!errors.Is(seen[8].res.Err, fsm.ErrBadSignature) {
		t.Fatalf("observer results do not carry the outcomes: %+v", seen)
	}
	if got := h.f.AppliedIndex(); got != uint64(len(cmds)) {
		t.Fatalf("AppliedIndex %d, want %d", got, len(cmds))
	}
}

func TestFSMReadersReturnCopies(t *testing.T) {
	h := signFixture(t, fsm.DefaultFSMConfig())
	h.mustOK(authorized(fsm.SignRequested{RequestID: "s", Key: "ed", Digest: digest(1), Committee: []string{"n1", "n2"}}))
	before := snapshotBytes(t, h.f)

	k, _ := h.f.Key("ed")
	v := k.Version(1)
	k.Members[0], k.Purposes[0], k.Primary = "evil", "evil", 7
	v.PublicKey[0], v.Confirmed[0], v.State = 'X', "evil", fsm.KeyFailed
	for _, k := range h.f.Keys() {
		k.Members[0], k.Versions[0].State = "evil", fsm.KeyRevoked
	}
	hd, _ := h.f.Handle(testHandleID("ed"))
	hd.Uses, hd.Revoked, hd.Key = 99, true, "ec"
	s, _ := h.f.Sign("s")
	s.Digest[0], s.Committee[0], s.State = 0xff, "evil", fsm.SignStateFailed
	for _, p := range h.f.PendingSigns() {
		p.Digest[1], p.Committee[1] = 0xff, "evil"
	}
	res := h.mustOK(authorized(fsm.SignRequested{RequestID: "s", Key: "ed", Digest: digest(1), Committee: []string{"n1", "n2"}}))
	res.Sign.Digest[2] = 0xff
	if after := snapshotBytes(t, h.f); !bytes.Equal(before, after) {
		t.Fatalf("mutating returned values changed the FSM:\n%s\n%s", before, after)
	}
}

// fsmScript is a command sequence touching every command type, used by the
// snapshot tests. It leaves keys in every state and requests pending,
// completed and failed.
func fsmScript() (before, after []fsm.Command) {
	ok := func(d byte) []byte { return fsmSig(fsmPub("ed"), digest(d), "") }
	before = []fsm.Command{
		fsm.PreParamsReady{Node: "n1"}, fsm.PreParamsReady{Node: "n2"}, fsm.PreParamsReady{Node: "n3"},
		fsm.CreateKey{RequestID: "c1", Name: "ed", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2", "n3"}, Time: 10},
		fsm.CreateKey{RequestID: "c2", Name: "ec", Algorithm: algECDSA, Threshold: 1, Members: []string{"n1", "n2"}, Time: 20},
		fsm.CreateKey{RequestID: "c3", Name: "bad", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2"}, Time: 5},
		fsm.ShareStored{Key: "ed", Version: 1, Node: "n1", PublicKey: fsmPub("ed")},
		fsm.ShareStored{Key: "ed", Version: 1, Node: "n2", PublicKey: fsmPub("ed")},
		fsm.ShareStored{Key: "ed", Version: 1, Node: "n3", PublicKey: fsmPub("ed")},
		fsm.ShareStored{Key: "ec", Version: 1, Node: "n2", PublicKey: fsmPub("ec")},
		fsm.KeygenFailed{Key: "bad", Version: 1, Node: "n2", Reason: "abort"},
		grantFor("ed", int64(time.Hour)), grantFor("ec", int64(time.Hour)),
		authorized(fsm.SignRequested{RequestID: "s1", Key: "ed", Digest: digest(1), Committee: []string{"n1", "n2"}, Time: 30}),
		authorized(fsm.SignRequested{RequestID: "s2", Key: "ed", Digest: digest(2), Committee: []string{"n2", "n3"}, Time: 31}),
		authorized(fsm.SignRequested{RequestID: "s3", Key: "ed", Digest: digest(3), Committee: []string{"n1", "n3"}, Time: 32}),
		authorized(fsm.SignRequested{RequestID: "s4", Key: "ed", Digest: digest(4), Committee: []string{"n1", "n3"}, Time: 33}),
		fsm.SignRetry{RequestID: "s2", Attempt: 2, Committee: []string{"n1", "n3"}, Reason: "slow"},
		fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n1", Signature: ok(1)},
		fsm.SignFailed{RequestID: "s3", Attempt: 1, Reason: "gone"},
		fsm.SignCompleted{RequestID: "s4", Attempt: 1, Node: "n3", Signature: ok(4)},
	}
	after = []fsm.Command{
		authorized(fsm.SignRequested{RequestID: "s1", Key: "ed", Digest: digest(1), Committee: []string{"n1", "n2"}, Time: 1}),
		authorized(fsm.SignRequested{RequestID: "s1", Key: "ed", Digest: digest(9), Committee: []string{"n1", "n2"}}),
		authorized(fsm.SignRequested{RequestID: "s3", Key: "ed", Digest: digest(3), Committee: []string{"n1", "n2"}}),
		fsm.SignRetry{RequestID: "s2", Attempt: 2, Committee: []string{"n1", "n3"}},
		fsm.SignRetry{RequestID: "s2", Attempt: 3, Committee: []string{"n1", "n2"}},
		fsm.SignCompleted{RequestID: "s2", Attempt: 3, Node: "n1", Signature: []byte("bad")},
		fsm.SignCompleted{RequestID: "s2", Attempt: 3, Node: "n1", Signature: ok(2)},
		fsm.SignCompleted{RequestID: "s2", Attempt: 3, Node: "n2", Signature: ok(2)},
		fsm.SignFailed{RequestID: "s3", Attempt: 1},
		authorized(fsm.SignRequested{RequestID: "s5", Key: "ed", Digest: digest(5), Committee: []string{"n1", "n2"}}),
		authorized(fsm.SignRequested{RequestID: "s6", Key: "ec", Digest: digest(5), Committee: []string{"n1", "n2"}}),
		fsm.ShareStored{Key: "ec", Version: 1, Node: "n1", PublicKey: fsmPub("ec")},
		authorized(fsm.SignRequested{RequestID: "s6", Key: "ec", Digest: digest(5), Committee: []string{"n1", "n2"}, Time: 40}),
		fsm.CreateKey{RequestID: "c1", Name: "ed", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2", "n3"}},
		fsm.CreateKey{RequestID: "c9", Name: "ec2", Algorithm: algECDSA, Threshold: 1, Members: []string{"n1", "n4"}},
		fsm.PreParamsReady{Node: "n4"},
		fsm.CreateKey{RequestID: "c9", Name: "ec2", Algorithm: algECDSA, Threshold: 1, Members: []string{"n1", "n4"}, Time: 50},
		fsm.ShareStored{Key: "bad", Version: 1, Node: "n1", PublicKey: fsmPub("bad")},
	}
	return before, after
}

func TestSnapshotRestoreReproducesState(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	cfg.MaxSignRecords = 2
	before, after := fsmScript()
	h := newFSMHarness(t, cfg)
	for _, c := range before {
		h.apply(c)
	}
	data := snapshotBytes(t, h.f)
	r := restoredFSM(t, cfg, data)

	if va, vb := viewOf(h.f), viewOf(r); !reflect.DeepEqual(va, vb) {
		t.Fatalf("restored view differs:\n%+v\n%+v", va, vb)
	}
	for _, id := range []string{"s1", "s2", "s3", "s4"} {
		a, okA := h.f.Sign(id)
		b, okB := r.Sign(id)
		if okA != okB || !reflect.DeepEqual(a, b) {
			t.Fatalf("Sign(%s): %+v,%v vs restored %+v,%v", id, a, okA, b, okB)
		}
	}
	if again := snapshotBytes(t, r); !bytes.Equal(again, data) {
		t.Fatalf("snapshot of the restored FSM differs:\n%s\n%s", data, again)
	}
	if st := r.TableStats(); st.Keys != 3 || st.PendingSigns != 1 || st.SignRecords != 3 {
		t.Fatalf("restored stats %+v, want 3 keys, 1 pending, 3 records", st)
	}

	// Both continue identically from the same index.
	rh := &fsmHarness{t: t, f: r, idx: h.idx, obs: &fsmRecorder{}}
	r.SetObserver(rh.obs)
	for i, c := range after {
		a, b := h.apply(c), rh.apply(c)
		if d := sameResult(a, b); d != "" {
			t.Fatalf("after-snapshot command %d (%T): %s", i, c, d)
		}
	}
	if a, b := snapshotBytes(t, h.f), snapshotBytes(t, r); !bytes.Equal(a, b) {
		t.Fatalf("final snapshots differ:\n%s\n%s", a, b)
	}
	if !reflect.DeepEqual(viewOf(h.f), viewOf(r)) {
		t.Fatal("final views differ")
	}
}

func TestRestoreReplacesWholeState(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	src := newFSMHarness(t, cfg)
	src.activeKey("only", algEd25519, 1, "n1", "n2")
	data := snapshotBytes(t, src.f)

	dst := signFixture(t, cfg)
	dst.mustOK(authorized(fsm.SignRequested{RequestID: "s", Key: "ed", Digest: digest(1), Committee: []string{"n1", "n2"}}))
	if err := dst.f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if !reflect.DeepEqual(viewOf(dst.f), viewOf(src.f)) {
		t.Fatalf("restore merged instead of replacing: %+v", viewOf(dst.f))
	}
	if _, ok := dst.f.Sign("s"); ok {
		t.Fatal("sign record survived restore")
	}
}

func TestRestoreRejectsCorruptSnapshotAndKeepsState(t *testing.T) {
	h := signFixture(t, fsm.DefaultFSMConfig())
	before := snapshotBytes(t, h.f)
	for _, bad := range []string{"", "{", `{"keys": 7}`, "not json"} {
		if err := h.f.Restore(io.NopCloser(strings.NewReader(bad))); err == nil {
			t.Errorf("Restore(%q) = nil, want error", bad)
		}
	}
	if after := snapshotBytes(t, h.f); !bytes.Equal(before, after) {
		t.Fatal("failed restore changed state")
	}
}

// failSink refuses writes, so Persist must cancel it.
type failSink struct{ memSink }

func (s *failSink) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestSnapshotPersistCancelsSinkOnWriteError(t *testing.T) {
	h := signFixture(t, fsm.DefaultFSMConfig())
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &failSink{}
	if err := snap.Persist(sink); err == nil {
		t.Fatal("Persist on a failing sink returned nil")
	}
	if !sink.cancelled || sink.closed {
		t.Fatalf("sink cancelled=%v closed=%v, want cancelled only", sink.cancelled, sink.closed)
	}
}
