package fsm_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
)

// audCrypto verifies Ed25519 for real, so checkpoints carry signatures a
// standard verifier accepts.
type audCrypto struct{}

func (audCrypto) KnownAlgorithm(alg string) bool { return alg == "ed25519" }
func (audCrypto) CheckMessage(_ string, m []byte) error {
	if len(m) == 0 {
		return errors.New("empty message")
	}
	return nil
}
func (audCrypto) Verify(_ string, pub, msg, sig []byte) bool {
	return len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, sig)
}

// audRecorder collects the records the FSM hands its observer.
type audRecorder struct{ recs []audit.Record }

func (r *audRecorder) Applied(uint64, fsm.Command, fsm.Result) {}
func (r *audRecorder) AuditAppended(recs []audit.Record)       { r.recs = append(r.recs, recs...) }

type audHarness struct {
	t    *testing.T
	f    *fsm.FSM
	obs  *audRecorder
	idx  uint64
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
}

func newAudHarness(t *testing.T, cfg auditchain.Config) *audHarness {
	t.Helper()
	f, err := fsm.NewFSM(fsm.DefaultFSMConfig(), audCrypto{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.EnableAudit(cfg); err != nil {
		t.Fatal(err)
	}
	h := &audHarness{t: t, f: f, obs: &audRecorder{}}
	f.SetObserver(h.obs)
	h.pub, h.priv, _ = ed25519.GenerateKey(nil)
	return h
}

func (h *audHarness) apply(cmd fsm.Command) fsm.Result {
	h.t.Helper()
	data, err := fsm.Encode(cmd)
	if err != nil {
		h.t.Fatal(err)
	}
	h.idx++
	res, _ := h.f.Apply(&raft.Log{Index: h.idx, Type: raft.LogCommand, Data: data}).(fsm.Result)
	return res
}

// activeKey makes an Ed25519 key whose public key is h.pub. A client key
// also gets its test handle; the audit key signs without one.
func (h *audHarness) activeKey(name string) {
	h.t.Helper()
	h.apply(&fsm.CreateKey{RequestID: "c-" + name, Name: name, Algorithm: "ed25519", Threshold: 1, Members: []string{"n1", "n2"}, Actor: "spiffe://c/client/admin", Time: 1e9})
	for _, m := range []string{"n1", "n2"} {
		if res := h.apply(&fsm.ShareStored{Key: name, Version: 1, Node: m, PublicKey: h.pub}); res.Err != nil {
			h.t.Fatal(res.Err)
		}
	}
	if fsm.IsAuditKey(name) {
		return
	}
	grant := grantFor(name, int64(time.Hour))
	grant.Actor = "spiffe://c/client/admin"
	if res := h.apply(&grant); res.Err != nil {
		h.t.Fatal(res.Err)
	}
}

func (h *audHarness) sign(id string, msg []byte) {
	h.t.Helper()
	req := authorized(fsm.SignRequested{RequestID: id, Key: "ed", Digest: msg, Committee: []string{"n1", "n2"}, Actor: "spiffe://c/client/app", Time: 2e9})
	if res := h.apply(&req); res.Err != nil {
		h.t.Fatal(res.Err)
	}
	sig := ed25519.Sign(h.priv, msg)
	for _, m := range []string{"n1", "n2"} {
		h.apply(&fsm.SignCompleted{RequestID: id, Attempt: 1, Node: m, Signature: sig})
	}
}

func TestAuditRecordsEveryEntryWithoutTheInput(t *testing.T) {
	h := newAudHarness(t, auditchain.DefaultConfig())
	h.apply(&fsm.PreParamsReady{Node: "n1"})
	h.activeKey("ed")
	msg := []byte("kq-audit-marker-3b1d payload")
	h.sign("s1", msg)
	h.apply(&fsm.SignRequested{RequestID: "s2", Key: "nope", Digest: msg, Committee: []string{"n1", "n2"}, Actor: "spiffe://c/client/app\nforged", Time: 3e9})

	recs := h.obs.recs
	if uint64(len(recs)) != h.idx {
		t.Fatalf("%d records for %d entries", len(recs), h.idx)
	}
	want := []struct {
		op      string
		outcome audit.Outcome
		actor   string
	}{
		{"preparams_ready", audit.OutcomeOK, "node:n1"},
		{"create_key", audit.OutcomeOK, "spiffe://c/client/admin"},
		{"share_stored", audit.OutcomeOK, "node:n1"},
		{"share_stored", audit.OutcomeOK, "node:n2"},
		{"issue_handle", audit.OutcomeOK, "spiffe://c/client/admin"},
		{"sign", audit.OutcomeOK, "spiffe://c/client/app"},
		{"sign_completed", audit.OutcomeOK, "node:n1"},
		{"sign_completed", audit.OutcomeDuplicate, "node:n2"},
		{"sign", audit.OutcomeDenied, `spiffe://c/client/app\u000aforged`},
	}
	for i, w := range want {
		r := recs[i]
		if r.Op != w.op || r.Outcome != w.outcome || r.Actor != w.actor || r.Seq != uint64(i+1) || r.Index != uint64(i+1) {
			t.Errorf("record %d: %+v, want %+v", i, r, w)
		}
	}
	sum := sha256.Sum256(msg)
	for _, i := range []int{5, 6, 7, 8} {
		if recs[i].InputSHA256 != hex.EncodeToString(sum[:]) || (i < 8 && (recs[i].Key != "ed" || recs[i].Version != 1 || recs[i].RequestID == "")) {
			t.Errorf("sign record %d: %+v", i, recs[i])
		}
	}
	if recs[3].PublicKey != hex.EncodeToString(h.pub) {
		t.Errorf("activation record lacks the public key: %+v", recs[3])
	}
	if recs[4].Key != "ed" || recs[4].RequestID != "issue-ed" || recs[4].Reason != "purpose "+fsm.DefaultPurpose {
		t.Errorf("handle record %+v, want key, request id and purpose", recs[4])
	}
	if recs[8].Reason == "" || recs[1].Time != 1e9 || recs[8].Time != 3e9 {
		t.Errorf("reason or time missing: %+v / %+v", recs[1], recs[8])
	}
	all, _ := json.Marshal(recs)
	// Neither the signed input nor the handle (its id, its token or the
	// token's hash) may appear: the chain is evidence, not a capability.
	tokenHash := fsm.HandleTokenHash(testHandleToken("ed"))
	for _, leak := range [][]byte{msg[:20], []byte(hex.EncodeToString(msg[:20])), []byte(base64.StdEncoding.EncodeToString(msg)[:20]),
		[]byte(testHandleID("ed")), testHandleToken("ed"), []byte(hex.EncodeToString(tokenHash[:]))} {
		if bytes.Contains(all, leak) {
			t.Fatalf("records hold the signed input or the handle (%q)", leak)
		}
	}
	if _, err := audit.Verify(recs, h.pub, false); err != nil {
		t.Fatal(err)
	}
	head := h.f.AuditHead()
	if head.Seq != uint64(len(recs)) || head.Hash != recs[len(recs)-1].Hash {
		t.Fatalf("head %+v", head)
	}
}

// A sign record names the version the request asked for, or the primary
// when it asked for none, refused or not.
func TestAuditSignRecordNamesTheVersionAsked(t *testing.T) {
	h := newAudHarness(t, auditchain.DefaultConfig())
	h.activeKey("ed")
	// v2 becomes the primary; v1 stays active and can still be named.
	if res := h.apply(&fsm.ChangeKey{RequestID: "rot", Op: fsm.OpRotate, Key: "ed", Time: 2e9}); res.Err != nil {
		t.Fatal(res.Err)
	}
	for _, m := range []string{"n1", "n2"} {
		if res := h.apply(&fsm.ShareStored{Key: "ed", Version: 2, Node: m, PublicKey: h.pub}); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if res := h.apply(&fsm.ChangeKey{RequestID: "pro", Op: fsm.OpPromote, Key: "ed", Version: 2, Time: 2e9}); res.Err != nil || res.Key.Primary != 2 {
		t.Fatalf("promote: %+v", res)
	}
	cases := []struct {
		name      string
		version   uint32
		committee []string
		refused   bool
		want      uint32
	}{
		{"refused, asking for an older version", 1, []string{"n1"}, true, 1},
		{"refused, asking for none", 0, []string{"n1"}, true, 2},
		{"refused, asking for an unknown version", 3, []string{"n1", "n2"}, true, 3},
		{"accepted, asking for an older version", 1, []string{"n1", "n2"}, false, 1},
		{"accepted, asking for none", 0, []string{"n1", "n2"}, false, 2},
	}
	for i, tc := range cases {
		req := authorized(fsm.SignRequested{RequestID: fmt.Sprint("s", i), Key: "ed", Version: tc.version, Digest: []byte("m"),
			Committee: tc.committee, Actor: "app", Time: 3e9})
		if res := h.apply(&req); (res.Err != nil) != tc.refused {
			t.Fatalf("%s: %+v", tc.name, res)
		}
		r := h.obs.recs[len(h.obs.recs)-1]
		if r.Op != "sign" || r.Key != "ed" || r.Version != tc.want {
			t.Errorf("%s: record %+v, want version %d", tc.name, r, tc.want)
		}
	}
}

func TestAuditCheckpointIsVerifiedAndChained(t *testing.T) {
	h := newAudHarness(t, auditchain.DefaultConfig())
	h.pub, h.priv, _ = ed25519.GenerateKey(nil)
	h.activeKey(fsm.AuditKeyName)
	h.activeKey("ed")
	h.sign("s1", []byte("m"))
	head := h.f.AuditHead()
	sig := ed25519.Sign(h.priv, audit.CheckpointMessage(head.Seq, head.Hash))
	cp := &fsm.AuditCheckpoint{RequestID: fsm.AuditRequestPrefix + "1", Key: fsm.AuditKeyName, Seq: head.Seq, Head: head.Hash, Signature: sig, Actor: "node:n1", Time: 5e9}

	bad := *cp
	bad.Signature = ed25519.Sign(h.priv, []byte("something else"))
	if res := h.apply(&bad); !errors.Is(res.Err, fsm.ErrBadSignature) {
		t.Fatalf("forged checkpoint: %v", res.Err)
	}
	wrongHead := *cp
	wrongHead.Head = audit.GenesisHash
	wrongHead.Signature = ed25519.Sign(h.priv, audit.CheckpointMessage(head.Seq, audit.GenesisHash))
	if res := h.apply(&wrongHead); !errors.Is(res.Err, fsm.ErrInvalidCommand) {
		t.Fatalf("checkpoint of another head: %v", res.Err)
	}
	if res := h.apply(cp); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := h.apply(cp); !res.Duplicate {
		t.Fatalf("repeated checkpoint: %+v", res)
	}
	last := h.obs.recs[len(h.obs.recs)-2]
	if last.Op != audit.OpCheckpoint || last.Checkpoint == nil || last.Checkpoint.Seq != head.Seq {
		t.Fatalf("checkpoint record %+v", last)
	}
	if got := h.f.AuditHead(); got.CheckpointSeq != head.Seq || got.CheckpointHead != head.Hash {
		t.Fatalf("head after checkpoint %+v", got)
	}
	rep, err := audit.Verify(h.obs.recs, h.pub, false)
	if err != nil || rep.Checkpoints != 1 || rep.LastCheckpointSeq != head.Seq {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func TestAuditDenialsBecomeRecords(t *testing.T) {
	h := newAudHarness(t, auditchain.DefaultConfig())
	res := h.apply(&fsm.AuditDenials{Node: "n2", WindowStart: 1, WindowEnd: 2, Entries: []fsm.DenialEntry{
		{Actor: "spiffe://c/client/x", Op: "sign", Reason: "InvalidArgument: bad digest", Count: 7},
		{Actor: "spiffe://c/client/y", Op: "get_key", Reason: "NotFound: unknown key", Count: 1},
	}})
	if res.Err != nil || len(h.obs.recs) != 2 {
		t.Fatalf("%v, %d records", res.Err, len(h.obs.recs))
	}
	if r := h.obs.recs[0]; r.Outcome != audit.OutcomeDenied || r.Count != 7 || r.Op != "sign" || r.WindowEnd != 2 {
		t.Fatalf("denial record %+v", r)
	}
	many := make([]fsm.DenialEntry, auditchain.DefaultConfig().MaxDenials+1)
	for i := range many {
		many[i] = fsm.DenialEntry{Actor: "a", Op: "o", Reason: "r", Count: 1}
	}
	if res := h.apply(&fsm.AuditDenials{Node: "n2", Entries: many}); !errors.Is(res.Err, fsm.ErrInvalidCommand) {
		t.Fatalf("oversized denials: %v", res.Err)
	}
	if r := h.obs.recs[2]; r.Outcome != audit.OutcomeDenied || r.Actor != "node:n2" || r.Count != 0 {
		t.Fatalf("refused denials record %+v", r)
	}
}

func TestAuditRecentIsBoundedAndSnapshotsCarryTheChain(t *testing.T) {
	cfg := auditchain.DefaultConfig()
	cfg.Recent = 64
	h := newAudHarness(t, cfg)
	for range 200 {
		h.apply(&fsm.PreParamsReady{Node: "n1"})
	}
	recent := h.f.AuditRecent(0, 1000)
	if len(recent) < 64 || len(recent) > 80 || recent[len(recent)-1].Seq != 200 {
		t.Fatalf("recent holds %d records ending at %d", len(recent), recent[len(recent)-1].Seq)
	}
	if got := h.f.AuditRecent(190, 5); len(got) != 5 || got[0].Seq != 190 {
		t.Fatalf("AuditRecent(190, 5) = %d records from %d", len(got), got[0].Seq)
	}

	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	r := newAudHarness(t, cfg)
	if err := r.f.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	r.idx = h.idx
	if r.f.AuditHead() != h.f.AuditHead() {
		t.Fatalf("restored head %+v, want %+v", r.f.AuditHead(), h.f.AuditHead())
	}
	a, b := h.apply(&fsm.PreParamsReady{Node: "n2"}), r.apply(&fsm.PreParamsReady{Node: "n2"})
	if a.Err != nil || b.Err != nil || h.obs.recs[len(h.obs.recs)-1] != r.obs.recs[len(r.obs.recs)-1] {
		t.Fatalf("the restored replica appended a different record")
	}
	all := append(h.obs.recs[:0:0], h.obs.recs...)
	if _, err := audit.Verify(all, nil, false); err != nil {
		t.Fatal(err)
	}
}

func TestAuditOffLeavesTheSnapshotAlone(t *testing.T) {
	f, err := fsm.NewFSM(fsm.DefaultFSMConfig(), audCrypto{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := fsm.Encode(&fsm.PreParamsReady{Node: "n1"})
	f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: data})
	if snap := snapshotBytes(t, f); bytes.Contains(snap, []byte(`"audit"`)) || f.AuditHead() != (auditchain.Head{}) {
		t.Fatalf("audit state without EnableAudit: %s", snap)
	}
	if err := f.EnableAudit(auditchain.Config{Recent: 1}); err == nil {
		t.Fatal("EnableAudit accepted a recent window of 1")
	}
}
