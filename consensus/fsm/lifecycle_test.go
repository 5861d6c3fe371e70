package fsm_test

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/signs"
)

// lcMembers are the members of every lifecycle test key; lcCommittee is
// the signing committee of its 1-of-3 threshold.
func lcMembers() []string   { return []string{"n1", "n2", "n3"} }
func lcCommittee() []string { return []string{"n1", "n2"} }

// versionPub is the public key every member reports for a key version, so
// a signature names the version that made it.
func versionPub(key string, v uint32) []byte { return fsmPub(fmt.Sprintf("%s/v%d", key, v)) }

// digestOf is the 32-byte message a request id signs; it suits both
// algorithms.
func digestOf(id string) []byte { d := sha256.Sum256([]byte("msg-" + id)); return d[:] }

// sigBy is a valid signature of the request id's message by a key version.
func sigBy(key string, v uint32, id string) []byte {
	return fsmSig(versionPub(key, v), digestOf(id), "")
}

// lcHarness is an fsmHarness with a leader clock: the commands its helpers
// build carry now, and a test moves now to move replicated time.
type lcHarness struct {
	*fsmHarness
	now int64
	seq int
}

func newLC(t *testing.T, cfg fsm.FSMConfig) *lcHarness {
	t.Helper()
	return &lcHarness{fsmHarness: newFSMHarness(t, cfg), now: int64(time.Hour)}
}

func (h *lcHarness) nextID(prefix string) string {
	h.seq++
	return fmt.Sprintf("%s-%d", prefix, h.seq)
}

// key creates a 1-of-3 key whose first version is active and primary, and
// grants its test handle.
func (h *lcHarness) key(name, alg string, deletionAllowed bool, purposes ...string) {
	h.t.Helper()
	if alg == algECDSA {
		for _, m := range lcMembers() {
			h.mustOK(fsm.PreParamsReady{Node: m})
		}
	}
	h.mustOK(fsm.CreateKey{RequestID: "create-" + name, Name: name, Algorithm: alg, Threshold: 1, Members: lcMembers(),
		Purposes: purposes, DeletionAllowed: deletionAllowed, Actor: "admin", Time: h.now})
	h.shares(name, 1)
	if k := h.keyOf(name); k.Primary != 1 || k.State() != fsm.KeyActive {
		h.t.Fatalf("key %s after its first shares: %+v", name, k)
	}
	h.grant(name)
}

// shares reports every member's share of version v.
func (h *lcHarness) shares(key string, v uint32) fsm.Result {
	h.t.Helper()
	var res fsm.Result
	for _, m := range lcMembers() {
		res = h.mustOK(fsm.ShareStored{Key: key, Version: v, Node: m, PublicKey: versionPub(key, v)})
	}
	return res
}

func (h *lcHarness) keyOf(name string) *fsm.Key {
	h.t.Helper()
	k, ok := h.f.Key(name)
	return found(h.t, k, ok, "key %s is gone", name)
}

// found returns v, failing the test with the message if a lookup did not
// find it.
func found[T any](t testing.TB, v T, ok bool, format string, args ...any) T {
	t.Helper()
	if !ok {
		t.Fatalf(format, args...)
	}
	return v
}

func (h *lcHarness) versionState(key string, v uint32) fsm.KeyState {
	h.t.Helper()
	ver := h.keyOf(key).Version(v)
	if ver == nil {
		h.t.Fatalf("key %s has no version %d", key, v)
	}
	return ver.State
}

// change builds a ChangeKey under a fresh request id.
func (h *lcHarness) change(op fsm.KeyOp, key string, version uint32) fsm.ChangeKey {
	return fsm.ChangeKey{RequestID: h.nextID(string(op)), Op: op, Key: key, Version: version, Actor: "admin", Time: h.now}
}

func (h *lcHarness) policy(key string, minSign, minVerify *uint32, deletionAllowed *bool) fsm.ChangeKey {
	c := h.change(fsm.OpPolicy, key, 0)
	c.MinSignVersion, c.MinVerifyVersion, c.DeletionAllowed = minSign, minVerify, deletionAllowed
	return c
}

// rotated rotates key and reports every share of the new version, which
// ends staged.
func (h *lcHarness) rotated(key string) uint32 {
	h.t.Helper()
	v := h.mustOK(h.change(fsm.OpRotate, key, 0)).Version
	h.shares(key, v)
	if st := h.versionState(key, v); st != fsm.KeyStaged {
		h.t.Fatalf("%s v%d after its shares: %s, want staged", key, v, st)
	}
	return v
}

// promoted promotes version v of key with a dual-sign window of dual.
func (h *lcHarness) promoted(key string, v uint32, dual time.Duration) {
	h.t.Helper()
	c := h.change(fsm.OpPromote, key, v)
	c.DualSign = int64(dual)
	if res := h.mustOK(c); res.Version != v || res.Key.Primary != v {
		h.t.Fatalf("promote %s v%d: %+v", key, v, res)
	}
}

// signReq is an authorised request to sign id's message with a version
// of key (0: the primary).
func (h *lcHarness) signReq(id, key string, version uint32) fsm.SignRequested {
	return authorized(fsm.SignRequested{RequestID: id, Key: key, Version: version, Digest: digestOf(id),
		Committee: lcCommittee(), Actor: "app", Time: h.now})
}

// stateWithoutTime is the FSM's snapshot less the replicated clock: every
// leader-stamped command moves the clock, refused or not, and nothing else
// may change on a refusal.
func stateWithoutTime(t fsmTB, f *fsm.FSM) string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(snapshotBytes(t, f), &m); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	delete(m, "time")
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return string(out)
}

// refused applies cmd, wants an error wrapping want, and checks that the
// state did not change.
func (h *lcHarness) refused(cmd fsm.Command, want error) fsm.Result {
	h.t.Helper()
	before := stateWithoutTime(h.t, h.f)
	res := h.mustErr(cmd, want)
	if res.Duplicate {
		h.t.Fatalf("refused %T returned Duplicate: %+v", cmd, res)
	}
	if after := stateWithoutTime(h.t, h.f); after != before {
		h.t.Fatalf("refused %T %+v changed the state:\nbefore %s\nafter  %s", cmd, cmd, before, after)
	}
	return res
}

// duplicate applies cmd, which must succeed as a duplicate, and checks
// that the state did not change.
func (h *lcHarness) duplicate(cmd fsm.Command) fsm.Result {
	h.t.Helper()
	before := stateWithoutTime(h.t, h.f)
	res := h.mustOK(cmd)
	if !res.Duplicate {
		h.t.Fatalf("repeated %T %+v: %+v, want Duplicate", cmd, cmd, res)
	}
	if after := stateWithoutTime(h.t, h.f); after != before {
		h.t.Fatalf("duplicate %T changed the state:\nbefore %s\nafter  %s", cmd, before, after)
	}
	return res
}

func (h *lcHarness) sign(id string) *fsm.Sign {
	h.t.Helper()
	s, ok := h.f.Sign(id)
	return found(h.t, s, ok, "no sign record %s", id)
}

// presig parks a ready presignature of key's primary on lcCommittee,
// booting the committee first if it never reported a boot.
func (h *lcHarness) presig(id, key string) {
	h.t.Helper()
	for _, n := range lcCommittee() {
		if !h.booted(n) {
			h.mustOK(fsm.NodeBooted{Node: n, Boot: "boot-" + n})
		}
	}
	h.mustOK(fsm.PresignRequested{ID: id, Key: key, Committee: lcCommittee(), Time: h.now, TTL: int64(time.Hour)})
	for _, n := range lcCommittee() {
		h.mustOK(fsm.PresignReady{ID: id, Node: n, Boot: "boot-" + n})
	}
}

// booted reports whether node has reported a boot; the state keeps it.
func (h *lcHarness) booted(node string) bool {
	var st struct {
		Boots map[string]string `json:"boots"`
	}
	if err := json.Unmarshal(snapshotBytes(h.t, h.f), &st); err != nil {
		h.t.Fatalf("snapshot: %v", err)
	}
	return st.Boots[node] != ""
}

func presigIDs(ps []*fsm.Presig) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.ID)
	}
	slices.Sort(out)
	return out
}

func TestRotateStagesANewVersionAndNeverReusesANumber(t *testing.T) {
	h := newLC(t, fsm.DefaultFSMConfig())
	h.key("k", algEd25519, true)

	res := h.mustOK(h.change(fsm.OpRotate, "k", 0))
	v2 := res.Key.Version(2)
	if res.Version != 2 || v2 == nil || v2.State != fsm.KeyGenerating || v2.CreatedIndex != h.idx || v2.RequestID != fmt.Sprintf("rotate-%d", h.seq) {
		t.Fatalf("rotate: %+v v2 %+v, want v2 generating, started by this entry", res, v2)
	}
	if res.Key.Primary != 1 || res.Key.State() != fsm.KeyActive {
		t.Fatalf("rotate moved the primary: %+v", res.Key)
	}
	h.refused(h.change(fsm.OpRotate, "k", 0), fsm.ErrBadTransition) // v2 still generating
	h.refused(h.change(fsm.OpRotate, "k", 3), fsm.ErrInvalidCommand)
	h.refused(h.change(fsm.OpRotate, "nope", 0), fsm.ErrUnknownKey)
	h.refused(fsm.ChangeKey{Op: fsm.OpRotate, Key: "k", Time: h.now}, fsm.ErrInvalidCommand) // no request id
	h.refused(h.change("explode", "k", 0), fsm.ErrInvalidCommand)

	// A rotated version waits, staged, for a promotion; the primary signs.
	for i, m := range lcMembers() {
		r := h.mustOK(fsm.ShareStored{Key: "k", Version: 2, Node: m, PublicKey: versionPub("k", 2)})
		want := fsm.KeyGenerating
		if i == len(lcMembers())-1 {
			want = fsm.KeyStaged
		}
		if got := r.Key.Version(2).State; got != want || r.Version != 2 || r.Key.Primary != 1 {
			t.Fatalf("after %d shares of v2: %s primary v%d, want %s primary v1", i+1, got, r.Key.Primary, want)
		}
	}
	if s := h.mustOK(h.signReq("s1", "k", 0)).Sign; s.Version != 1 || s.Dual != "" {
		t.Fatalf("sign while v2 is staged: %+v, want v1", s)
	}
	if s := h.mustOK(h.signReq("s2", "k", 2)).Sign; s.Version != 2 {
		t.Fatalf("explicit sign with staged v2: %+v", s)
	}

	// A failed generation keeps its number; so does a destroyed version.
	h.mustOK(h.change(fsm.OpRotate, "k", 0))
	h.mustOK(fsm.KeygenFailed{Key: "k", Version: 3, Node: "n2", Reason: "crash"})
	if st := h.versionState("k", 3); st != fsm.KeyFailed {
		t.Fatalf("v3 %s after keygen failure", st)
	}
	if v := h.rotated("k"); v != 4 {
		t.Fatalf("rotation after a failed v3 made v%d, want v4", v)
	}
	destroy := h.change(fsm.OpDestroy, "k", 3)
	destroy.Delay = int64(time.Second)
	h.mustOK(destroy)
	h.now += int64(time.Second)
	h.mustOK(fsm.DestroyDue{Key: "k", Version: 3, Time: h.now})
	if v := h.mustOK(h.change(fsm.OpRotate, "k", 0)).Version; v != 5 {
		t.Fatalf("rotation after destroying v3 made v%d, want v5", v)
	}
	k := h.keyOf("k")
	for i, v := range k.Versions {
		if v.Number != uint32(i+1) {
			t.Fatalf("versions %+v: number %d at position %d", k.Versions, v.Number, i)
		}
	}
	wantStates := []fsm.KeyState{fsm.KeyActive, fsm.KeyStaged, fsm.KeyDestroyed, fsm.KeyStaged, fsm.KeyGenerating}
	for i, want := range wantStates {
		if got := k.Versions[i].State; got != want {
			t.Fatalf("v%d %s, want %s", i+1, got, want)
		}
	}

	// Members that disagree on a rotated version's public key fail that
	// version alone.
	h.mustOK(fsm.ShareStored{Key: "k", Version: 5, Node: "n1", PublicKey: versionPub("k", 5)})
	r := h.mustOK(fsm.ShareStored{Key: "k", Version: 5, Node: "n2", PublicKey: []byte("other")})
	if v := r.Key.Version(5); v.State != fsm.KeyFailed || !strings.Contains(v.Failure, "n2") || r.Key.Primary != 1 {
		t.Fatalf("disagreement on v5: %+v primary v%d", v, r.Key.Primary)
	}
}

func TestPromote(t *testing.T) {
	h := newLC(t, fsm.DefaultFSMConfig())
	h.key("k", algEd25519, false)
	h.refused(h.change(fsm.OpPromote, "k", 0), fsm.ErrUnknownVersion) // nothing staged
	h.refused(h.change(fsm.OpPromote, "k", 1), fsm.ErrBadTransition)  // already primary
	h.refused(h.change(fsm.OpPromote, "k", 9), fsm.ErrUnknownVersion)
	h.mustOK(h.change(fsm.OpRotate, "k", 0))
	h.refused(h.change(fsm.OpPromote, "k", 2), fsm.ErrBadTransition) // generating
	h.shares("k", 2)
	h.rotated("k") // v3 staged
	neg := h.change(fsm.OpPromote, "k", 2)
	neg.DualSign = -1
	h.refused(neg, fsm.ErrInvalidCommand)

	// The default is the newest staged version; the old primary stays
	// active, and without a window it signs only when asked by number.
	res := h.mustOK(h.change(fsm.OpPromote, "k", 0))
	if res.Version != 3 || res.Key.Primary != 3 || res.Key.Version(3).State != fsm.KeyActive || res.Key.DualSign != nil {
		t.Fatalf("promote: %+v", res)
	}
	if st := res.Key.Version(1).State; st != fsm.KeyActive {
		t.Fatalf("old primary %s after promote, want active", st)
	}
	if s := h.mustOK(h.signReq("s1", "k", 0)).Sign; s.Version != 3 || s.Dual != "" {
		t.Fatalf("sign after promote: %+v, want v3 alone", s)
	}
	if s := h.mustOK(h.signReq("s2", "k", 1)).Sign; s.Version != 1 {
		t.Fatalf("explicit sign with v1: %+v", s)
	}
	// An active version below the primary can be promoted again.
	h.mustOK(h.change(fsm.OpPromote, "k", 1))
	if k := h.keyOf("k"); k.Primary != 1 || k.Version(3).State != fsm.KeyActive {
		t.Fatalf("promote v1 back: %+v", k)
	}

	h.mustOK(h.change(fsm.OpRetire, "k", 2))
	h.refused(h.change(fsm.OpPromote, "k", 2), fsm.ErrBadTransition) // retired
	h.mustOK(h.change(fsm.OpRevoke, "k", 2))
	h.refused(h.change(fsm.OpPromote, "k", 2), fsm.ErrBadTransition) // revoked
	h.mustOK(h.change(fsm.OpRotate, "k", 0))
	h.mustOK(fsm.KeygenFailed{Key: "k", Version: 4, Node: "n1", Reason: "crash"})
	h.refused(h.change(fsm.OpPromote, "k", 4), fsm.ErrBadTransition) // failed

	// A floor above a version forbids promoting it.
	h.mustOK(h.change(fsm.OpPromote, "k", 3))
	h.mustOK(h.policy("k", new(uint32(3)), nil, nil))
	h.refused(h.change(fsm.OpPromote, "k", 1), fsm.ErrBadTransition)
}

func TestDualSignWindow(t *testing.T) {
	// setup: v1 primary, v2 promoted with a window of ten seconds that
	// opens at the returned time.
	setup := func(t *testing.T, cfg fsm.FSMConfig) (*lcHarness, int64) {
		h := newLC(t, cfg)
		h.key("k", algEd25519, false)
		h.rotated("k")
		h.promoted("k", 2, 10*time.Second)
		if d := h.keyOf("k").DualSign; d == nil || d.Version != 1 || d.Until != h.now+int64(10*time.Second) {
			t.Fatalf("dual-sign window %+v, want v1 until now+10s", d)
		}
		return h, h.now
	}
	// companion returns the companion record of id, or nil.
	companion := func(h *lcHarness, id string) *fsm.Sign {
		s := h.sign(id)
		if s.Dual == "" {
			return nil
		}
		if s.Dual != signs.DualRequestID(id, 1) {
			t.Fatalf("companion id %q, want %q", s.Dual, signs.DualRequestID(id, 1))
		}
		return h.sign(s.Dual)
	}

	t.Run("companion signs with the old primary while open", func(t *testing.T) {
		h, opened := setup(t, fsm.DefaultFSMConfig())
		h.now = opened + int64(time.Second)
		res := h.mustOK(h.signReq("s1", "k", 0))
		if res.Sign.Version != 2 || res.Sign.Dual != signs.DualRequestID("s1", 1) {
			t.Fatalf("parent %+v, want v2 naming its companion", res.Sign)
		}
		d := companion(h, "s1")
		if d.Version != 1 || d.Parent != "s1" || d.State != fsm.SignStatePending || d.DigestHash != res.Sign.DigestHash ||
			!slices.Equal(d.Digest, digestOf("s1")) || d.SessionIndex != h.idx || d.Attempt != 1 {
			t.Fatalf("companion %+v", d)
		}
		if st := h.f.TableStats(); st.PendingSigns != 2 || len(h.f.PendingSigns()) != 2 {
			t.Fatalf("stats %+v, want parent and companion pending", st)
		}
		if hd, _ := h.f.Handle(testHandleID("k")); hd.Uses != 1 {
			t.Fatalf("a dual-signed request used the handle %d times, want 1", hd.Uses)
		}
		// Naming the primary explicitly is the same request; naming the
		// old version is not dual-signed.
		if s := h.mustOK(h.signReq("s2", "k", 2)).Sign; s.Dual == "" {
			t.Fatalf("explicit primary request %+v, want a companion", s)
		}
		if s := h.mustOK(h.signReq("s3", "k", 1)).Sign; s.Version != 1 || s.Dual != "" {
			t.Fatalf("explicit v1 request %+v, want v1 alone", s)
		}
		// A repeat is a duplicate and makes no second companion.
		h.duplicate(h.signReq("s1", "k", 0))
		// A client may not name a companion.
		h.refused(authorized(fsm.SignRequested{RequestID: signs.DualRequestID("s1", 1), Key: "k", Digest: digestOf("s1"),
			Committee: lcCommittee(), Time: h.now}), fsm.ErrRequestConflict)

		// Each record verifies against its own version's public key.
		h.refused(fsm.SignCompleted{RequestID: d.RequestID, Attempt: 1, Node: "n1", Signature: sigBy("k", 2, "s1")}, fsm.ErrBadSignature)
		done := h.mustOK(fsm.SignCompleted{RequestID: d.RequestID, Attempt: 1, Node: "n1", Signature: sigBy("k", 1, "s1")})
		if done.Sign.State != fsm.SignStateCompleted || done.Sign.Parent != "s1" {
			t.Fatalf("companion completion %+v", done.Sign)
		}
		h.mustOK(fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n2", Signature: sigBy("k", 2, "s1")})
	})

	t.Run("closed at the end of the window in replicated time", func(t *testing.T) {
		h, opened := setup(t, fsm.DefaultFSMConfig())
		h.now = opened + int64(10*time.Second) - 1
		if s := h.mustOK(h.signReq("last", "k", 0)).Sign; s.Dual == "" {
			t.Fatal("no companion just before the window closes")
		}
		h.now = opened + int64(10*time.Second)
		if s := h.mustOK(h.signReq("at-end", "k", 0)).Sign; s.Dual != "" {
			t.Fatalf("companion %s at the window's end", s.Dual)
		}
		// A request stamped inside the window by a slow leader after the
		// clock passed its end is not dual-signed.
		h.now = opened + int64(time.Second)
		if s := h.mustOK(h.signReq("late", "k", 0)).Sign; s.Dual != "" || s.Time != opened+int64(10*time.Second) {
			t.Fatalf("request with an earlier stamp: %+v, want no companion at the later replicated time", s)
		}
	})

	t.Run("needs room for both records", func(t *testing.T) {
		cfg := fsm.DefaultFSMConfig()
		cfg.MaxPendingSigns = 3
		h, _ := setup(t, cfg)
		h.mustOK(h.signReq("a", "k", 0)) // two pending
		h.refused(h.signReq("b", "k", 0), fsm.ErrTooManyPending)
		h.mustOK(h.signReq("c", "k", 1)) // a single record fits
	})

	closers := []struct {
		name  string
		close func(h *lcHarness) fsm.ChangeKey
	}{
		{"rollback", func(h *lcHarness) fsm.ChangeKey { return h.change(fsm.OpRollback, "k", 0) }},
		{"retiring the old version", func(h *lcHarness) fsm.ChangeKey { return h.change(fsm.OpRetire, "k", 1) }},
		{"revoking the old version", func(h *lcHarness) fsm.ChangeKey { return h.change(fsm.OpRevoke, "k", 1) }},
		{"a sign floor above the old version", func(h *lcHarness) fsm.ChangeKey {
			return h.policy("k", new(uint32(2)), nil, nil)
		}},
		{"promoting without a window", func(h *lcHarness) fsm.ChangeKey {
			h.rotated("k")
			return h.change(fsm.OpPromote, "k", 3)
		}},
	}
	for _, tc := range closers {
		t.Run("closed by "+tc.name, func(t *testing.T) {
			h, opened := setup(t, fsm.DefaultFSMConfig())
			h.now = opened + int64(time.Second)
			h.mustOK(tc.close(h))
			if d := h.keyOf("k").DualSign; d != nil {
				t.Fatalf("window %+v still open", d)
			}
			if s := h.mustOK(h.signReq("after", "k", 0)).Sign; s.Dual != "" {
				t.Fatalf("companion %s after the window closed", s.Dual)
			}
			if st := h.f.TableStats(); st.PendingSigns != 1 {
				t.Fatalf("stats %+v, want one pending record", st)
			}
		})
	}

	t.Run("no window when the old primary cannot sign", func(t *testing.T) {
		h := newLC(t, fsm.DefaultFSMConfig())
		h.key("k", algEd25519, false)
		h.rotated("k")
		h.mustOK(h.change(fsm.OpRetire, "k", 1))
		h.promoted("k", 2, time.Hour)
		if d := h.keyOf("k").DualSign; d != nil {
			t.Fatalf("window %+v for a retired old primary", d)
		}
	})
}

func TestRollback(t *testing.T) {
	h := newLC(t, fsm.DefaultFSMConfig())
	h.key("k", algEd25519, false)
	h.refused(h.change(fsm.OpRollback, "k", 0), fsm.ErrBadTransition) // nothing below v1
	h.rotated("k")
	h.rotated("k")
	h.promoted("k", 3, 0)
	h.refused(h.change(fsm.OpRollback, "k", 3), fsm.ErrBadTransition) // not below the primary
	h.refused(h.change(fsm.OpRollback, "k", 2), fsm.ErrBadTransition) // staged, not active
	h.refused(h.change(fsm.OpRollback, "k", 7), fsm.ErrUnknownVersion)

	// The default is the newest active version below the primary.
	h.promoted("k", 2, 0)
	h.promoted("k", 3, 0)
	res := h.mustOK(h.change(fsm.OpRollback, "k", 0))
	if res.Version != 2 || res.Key.Primary != 2 || res.Key.Version(3).State != fsm.KeyActive {
		t.Fatalf("rollback: %+v, want v2 primary and v3 still active", res)
	}
	if s := h.mustOK(h.signReq("s1", "k", 0)).Sign; s.Version != 2 {
		t.Fatalf("sign after rollback %+v, want v2", s)
	}
	h.mustOK(h.change(fsm.OpRollback, "k", 1))
	if k := h.keyOf("k"); k.Primary != 1 {
		t.Fatalf("rollback to v1: primary v%d", k.Primary)
	}
	// The version rolled back from can be promoted again.
	h.promoted("k", 3, 0)

	// Neither a retired version nor one below the sign floor takes the
	// primary back.
	h.mustOK(h.change(fsm.OpRetire, "k", 1))
	h.refused(h.change(fsm.OpRollback, "k", 1), fsm.ErrBadTransition)
	h.mustOK(h.policy("k", new(uint32(3)), nil, nil))
	h.refused(h.change(fsm.OpRollback, "k", 2), fsm.ErrBadTransition)
	h.refused(h.change(fsm.OpRollback, "k", 0), fsm.ErrBadTransition)
}

func TestRetire(t *testing.T) {
	h := newLC(t, fsm.DefaultFSMConfig())
	h.key("ec", algECDSA, false)
	h.mustOK(h.signReq("pending", "ec", 0))
	h.presig("p1", "ec")
	h.rotated("ec")

	res := h.mustOK(h.change(fsm.OpRetire, "ec", 0))
	k := res.Key
	if res.Version != 1 || k.Version(1).State != fsm.KeyRetired || k.State() != fsm.KeyRetired || k.Primary != 1 {
		t.Fatalf("retire of the primary: %+v", res)
	}
	if err := k.SignVersion(1); !errors.Is(err, fsm.ErrVersionUnusable) {
		t.Fatalf("SignVersion(retired) = %v", err)
	}
	if err := k.VerifyVersion(1); err != nil {
		t.Fatalf("VerifyVersion(retired) = %v, want nil: retired versions verify", err)
	}
	if ps := h.f.Presigs("ec"); len(ps) != 0 {
		t.Fatalf("presignatures of a retired version kept: %v", presigIDs(ps))
	}
	h.refused(h.signReq("s1", "ec", 0), fsm.ErrVersionUnusable)
	h.refused(h.signReq("s1", "ec", 1), fsm.ErrVersionUnusable)
	// Retirement stops new work only: a request already running finishes.
	if s := h.mustOK(fsm.SignCompleted{RequestID: "pending", Attempt: 1, Node: "n1", Signature: sigBy("ec", 1, "pending")}).Sign; s.State != fsm.SignStateCompleted {
		t.Fatalf("completion after retirement %+v", s)
	}

	if res := h.mustOK(h.change(fsm.OpRetire, "ec", 2)); res.Key.Version(2).State != fsm.KeyRetired {
		t.Fatalf("retire of a staged version: %+v", res.Key.Version(2))
	}
	h.refused(h.change(fsm.OpRetire, "ec", 1), fsm.ErrBadTransition) // already retired
	h.refused(h.change(fsm.OpRetire, "ec", 9), fsm.ErrUnknownVersion)
	h.mustOK(h.change(fsm.OpRotate, "ec", 0))
	h.refused(h.change(fsm.OpRetire, "ec", 3), fsm.ErrBadTransition) // generating
	h.mustOK(fsm.KeygenFailed{Key: "ec", Version: 3, Node: "n3", Reason: "crash"})
	h.refused(h.change(fsm.OpRetire, "ec", 3), fsm.ErrBadTransition) // failed
	h.mustOK(h.change(fsm.OpRevoke, "ec", 2))
	h.refused(h.change(fsm.OpRetire, "ec", 2), fsm.ErrBadTransition) // revoked

	// A key whose first version never finished has no primary to retire.
	h.mustOK(fsm.CreateKey{RequestID: "create-gen", Name: "gen", Algorithm: algEd25519, Threshold: 1, Members: lcMembers(), Time: h.now})
	h.refused(h.change(fsm.OpRetire, "gen", 0), fsm.ErrUnknownVersion)
}

func TestRevoke(t *testing.T) {
	h := newLC(t, fsm.DefaultFSMConfig())
	h.key("ec", algECDSA, false)
	h.presig("p1", "ec")
	h.mustOK(h.signReq("b", "ec", 0))
	h.mustOK(h.signReq("a", "ec", 0))
	h.mustOK(h.signReq("done", "ec", 0))
	h.mustOK(fsm.SignCompleted{RequestID: "done", Attempt: 1, Node: "n1", Signature: sigBy("ec", 1, "done")})
	h.rotated("ec")
	h.promoted("ec", 2, 0)
	h.presig("p2", "ec")
	h.mustOK(h.signReq("other", "ec", 0)) // v2: untouched by revoking v1

	res := h.mustOK(h.change(fsm.OpRevoke, "ec", 1))
	revokedAt := h.idx
	if res.Version != 1 || res.Key.Version(1).State != fsm.KeyRevoked {
		t.Fatalf("revoke: %+v", res)
	}
	// Its pending requests fail in the revoking entry, in id order.
	if !slices.Equal(res.Ended, []string{"a", "b"}) {
		t.Fatalf("ended %v, want [a b]", res.Ended)
	}
	for _, id := range []string{"a", "b"} {
		s := h.sign(id)
		if s.State != fsm.SignStateFailed || s.Index != revokedAt || !strings.Contains(s.Reason, "revoked") || s.Digest != nil {
			t.Fatalf("%s after revocation: %+v", id, s)
		}
	}
	if s := h.sign("done"); s.State != fsm.SignStateCompleted {
		t.Fatalf("a finished request changed: %+v", s)
	}
	if s := h.sign("other"); s.State != fsm.SignStatePending {
		t.Fatalf("a request of v2 changed: %+v", s)
	}
	if st := h.f.TableStats(); st.PendingSigns != 1 {
		t.Fatalf("stats %+v, want only v2's request pending", st)
	}
	if got := presigIDs(h.f.Presigs("ec")); !slices.Equal(got, []string{"p2"}) {
		t.Fatalf("presignatures %v, want v1's dropped and v2's kept", got)
	}
	// A late signature by the revoked version is not recorded.
	late := h.mustOK(fsm.SignCompleted{RequestID: "a", Attempt: 1, Node: "n1", Signature: sigBy("ec", 1, "a")})
	if !late.Duplicate || late.Sign.State != fsm.SignStateFailed || late.Sign.Signature != nil {
		t.Fatalf("late signature %+v, want the failed record unchanged", late)
	}
	k := h.keyOf("ec")
	if err := k.SignVersion(1); !errors.Is(err, fsm.ErrVersionUnusable) {
		t.Fatalf("SignVersion(revoked) = %v", err)
	}
	if err := k.VerifyVersion(1); !errors.Is(err, fsm.ErrVersionUnusable) {
		t.Fatalf("VerifyVersion(revoked) = %v, want ErrVersionUnusable", err)
	}
	h.refused(h.signReq("again", "ec", 1), fsm.ErrVersionUnusable)

	h.refused(h.change(fsm.OpRevoke, "ec", 1), fsm.ErrBadTransition) // already revoked
	h.refused(h.change(fsm.OpRevoke, "ec", 5), fsm.ErrUnknownVersion)
	h.mustOK(h.change(fsm.OpRotate, "ec", 0))
	h.refused(h.change(fsm.OpRevoke, "ec", 3), fsm.ErrBadTransition) // generating
	h.mustOK(fsm.KeygenFailed{Key: "ec", Version: 3, Node: "n1", Reason: "crash"})
	h.refused(h.change(fsm.OpRevoke, "ec", 3), fsm.ErrBadTransition) // failed

	// A retired version can still be revoked; a staged one too.
	h.rotated("ec")
	h.mustOK(h.change(fsm.OpRetire, "ec", 4))
	h.mustOK(h.change(fsm.OpRevoke, "ec", 4))
	h.rotated("ec")
	h.mustOK(h.change(fsm.OpRevoke, "ec", 5))
	// Revoking the primary leaves the key without a signing version.
	h.mustOK(h.change(fsm.OpRevoke, "ec", 0))
	if k := h.keyOf("ec"); k.State() != fsm.KeyRevoked || k.Version(2).State != fsm.KeyRevoked {
		t.Fatalf("key after revoking its primary: %+v", k)
	}
	if s := h.sign("other"); s.State != fsm.SignStateFailed {
		t.Fatalf("v2's request after revoking v2: %+v", s)
	}
	h.refused(h.signReq("more", "ec", 0), fsm.ErrVersionUnusable)
	h.refused(fsm.PresignRequested{ID: "p3", Key: "ec", Committee: lcCommittee(), Time: h.now, TTL: int64(time.Hour)}, fsm.ErrKeyNotActive)
}

func TestRevokeFailsTheCompanionOfADualSignedRequest(t *testing.T) {
	h := newLC(t, fsm.DefaultFSMConfig())
	h.key("k", algEd25519, false)
	h.rotated("k")
	h.promoted("k", 2, time.Hour)
	h.mustOK(h.signReq("s1", "k", 0))
	companionID := signs.DualRequestID("s1", 1)
	res := h.mustOK(h.change(fsm.OpRevoke, "k", 1))
	if !slices.Equal(res.Ended, []string{companionID}) || res.Key.DualSign != nil {
		t.Fatalf("revoke of the dual version: ended %v window %+v", res.Ended, res.Key.DualSign)
	}
	if s := h.sign(companionID); s.State != fsm.SignStateFailed {
		t.Fatalf("companion %+v, want failed", s)
	}
	if s := h.sign("s1"); s.State != fsm.SignStatePending {
		t.Fatalf("parent %+v, want still pending", s)
	}
	if dup := h.mustOK(fsm.SignCompleted{RequestID: companionID, Attempt: 1, Node: "n1", Signature: sigBy("k", 1, "s1")}); !dup.Duplicate || dup.Sign.Signature != nil {
		t.Fatalf("late companion signature %+v", dup)
	}
}

func TestPolicyFloors(t *testing.T) {
	h := newLC(t, fsm.DefaultFSMConfig())
	h.key("k", algEd25519, false)
	h.rotated("k")
	h.promoted("k", 2, 0)
	h.rotated("k") // v3 staged; primary v2

	refusals := []struct {
		name string
		cmd  fsm.ChangeKey
		want error
	}{
		{"verify floor above sign floor", h.policy("k", new(uint32(1)), new(uint32(2)), nil), fsm.ErrInvalidCommand},
		{"sign floor above the primary", h.policy("k", new(uint32(3)), nil, nil), fsm.ErrBadTransition},
		{"sign floor above the newest version", h.policy("k", new(uint32(4)), nil, nil), fsm.ErrInvalidCommand},
		{"verify floor above the newest version", h.policy("k", nil, new(uint32(4)), nil), fsm.ErrInvalidCommand},
		{"verify floor alone above the sign floor", h.policy("k", nil, new(uint32(1)), nil), fsm.ErrInvalidCommand},
		{"a version", func() fsm.ChangeKey { c := h.policy("k", nil, nil, new(true)); c.Version = 2; return c }(), fsm.ErrInvalidCommand},
		{"unknown key", h.policy("nope", nil, nil, new(true)), fsm.ErrUnknownKey},
	}
	for _, tc := range refusals {
		t.Log(tc.name)
		h.refused(tc.cmd, tc.want)
	}

	// min_verify <= min_sign <= primary: v1 verifies but no longer signs.
	res := h.mustOK(h.policy("k", new(uint32(2)), new(uint32(1)), nil))
	if k := res.Key; k.MinSignVersion != 2 || k.MinVerifyVersion != 1 || k.DeletionAllowed {
		t.Fatalf("policy: %+v", k)
	}
	k := h.keyOf("k")
	if err := k.SignVersion(1); !errors.Is(err, fsm.ErrVersionUnusable) {
		t.Fatalf("SignVersion(1) below the floor = %v", err)
	}
	if err := k.VerifyVersion(1); err != nil {
		t.Fatalf("VerifyVersion(1) = %v, want nil above the verify floor", err)
	}
	if err := k.SignVersion(3); err != nil {
		t.Fatalf("SignVersion(staged v3) = %v", err)
	}
	if err := k.SignVersion(9); !errors.Is(err, fsm.ErrUnknownVersion) {
		t.Fatalf("SignVersion(9) = %v", err)
	}
	if err := k.VerifyVersion(9); !errors.Is(err, fsm.ErrUnknownVersion) {
		t.Fatalf("VerifyVersion(9) = %v", err)
	}
	h.refused(h.signReq("s1", "k", 1), fsm.ErrVersionUnusable)
	if s := h.mustOK(h.signReq("s2", "k", 0)).Sign; s.Version != 2 {
		t.Fatalf("sign above the floor %+v", s)
	}
	if k.Version(1).State != fsm.KeyActive {
		t.Fatalf("a floor changed v1's state: %s", k.Version(1).State)
	}

	// Unset fields keep their value; the verify floor then rises to the
	// sign floor.
	res = h.mustOK(h.policy("k", nil, new(uint32(2)), new(true)))
	if k := res.Key; k.MinSignVersion != 2 || k.MinVerifyVersion != 2 || !k.DeletionAllowed {
		t.Fatalf("partial policy: %+v", k)
	}
	if err := res.Key.VerifyVersion(1); !errors.Is(err, fsm.ErrVersionUnusable) {
		t.Fatalf("VerifyVersion(1) below the verify floor = %v", err)
	}
}

func TestDestroy(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	cfg.MinDestroyDelay = time.Minute
	h := newLC(t, cfg)
	h.key("k", algEd25519, false)
	h.rotated("k")
	h.promoted("k", 2, 0)
	h.mustOK(h.change(fsm.OpRetire, "k", 1))
	destroy := func(v uint32, delay time.Duration) fsm.ChangeKey {
		c := h.change(fsm.OpDestroy, "k", v)
		c.Delay = int64(delay)
		return c
	}

	h.refused(destroy(1, time.Minute), fsm.ErrBadTransition) // deletion_allowed is off
	h.mustOK(h.policy("k", nil, nil, new(true)))
	h.refused(destroy(0, time.Minute), fsm.ErrUnknownVersion)
	h.refused(destroy(9, time.Minute), fsm.ErrUnknownVersion)
	h.refused(destroy(2, time.Minute), fsm.ErrBadTransition) // active
	h.refused(destroy(1, time.Minute-1), fsm.ErrInvalidCommand)
	h.refused(fsm.ShareDestroyed{Key: "k", Version: 1, Node: "n1"}, fsm.ErrStale)
	h.refused(fsm.DestroyDue{Key: "k", Version: 1, Time: h.now}, fsm.ErrStale) // nothing pending
	h.refused(h.change(fsm.OpCancelDestroy, "k", 1), fsm.ErrBadTransition)

	scheduledAt := h.now
	res := h.mustOK(destroy(1, time.Minute))
	if d := res.Key.Version(1).Destroy; d == nil || d.At != scheduledAt+int64(time.Minute) || d.Executed || res.Key.Version(1).State != fsm.KeyRetired {
		t.Fatalf("scheduled destruction %+v state %s", d, res.Key.Version(1).State)
	}
	h.refused(destroy(1, time.Minute), fsm.ErrBadTransition) // already scheduled
	h.refused(fsm.DestroyDue{Key: "k", Version: 1, Time: scheduledAt + int64(time.Minute) - 1}, fsm.ErrBadTransition)

	// A cancel removes the schedule; due then finds nothing.
	h.mustOK(h.change(fsm.OpCancelDestroy, "k", 1))
	if v := h.keyOf("k").Version(1); v.Destroy != nil || v.State != fsm.KeyRetired {
		t.Fatalf("after cancel %+v", v)
	}
	h.refused(fsm.DestroyDue{Key: "k", Version: 1, Time: scheduledAt + int64(time.Hour)}, fsm.ErrStale)

	h.now += int64(time.Hour)
	at := h.now + int64(time.Minute)
	h.mustOK(destroy(1, time.Minute))
	// DestroyDue is judged at replicated time: refused before At; once
	// the clock is there, an entry stamped earlier by a slow leader
	// executes.
	h.refused(fsm.DestroyDue{Key: "k", Version: 1, Time: at - 1}, fsm.ErrBadTransition)
	tick := h.policy("k", nil, nil, nil)
	tick.Time = at
	h.mustOK(tick)
	res = h.mustOK(fsm.DestroyDue{Key: "k", Version: 1, Time: at - 10})
	v1 := res.Key.Version(1)
	if res.Version != 1 || v1.State != fsm.KeyDestroyed || !v1.Destroy.Executed {
		t.Fatalf("executed destruction %+v", v1)
	}
	if err := res.Key.VerifyVersion(1); err != nil {
		t.Fatalf("VerifyVersion(destroyed) = %v: a shredded share does not make old signatures false", err)
	}
	if err := res.Key.SignVersion(1); !errors.Is(err, fsm.ErrVersionUnusable) {
		t.Fatalf("SignVersion(destroyed) = %v", err)
	}
	h.refused(fsm.DestroyDue{Key: "k", Version: 1, Time: h.now}, fsm.ErrStale)
	h.refused(h.change(fsm.OpCancelDestroy, "k", 1), fsm.ErrBadTransition)
	h.refused(h.change(fsm.OpRevoke, "k", 1), fsm.ErrBadTransition)
	h.refused(fsm.DestroyDue{Key: "nope", Version: 1, Time: h.now}, fsm.ErrUnknownKey)

	// Each member confirms shredding its share, once.
	if r := h.mustOK(fsm.ShareDestroyed{Key: "k", Version: 1, Node: "n3"}); !slices.Equal(r.Key.Version(1).Destroy.Shredded, []string{"n3"}) {
		t.Fatalf("shredded %v", r.Key.Version(1).Destroy.Shredded)
	}
	if r := h.mustOK(fsm.ShareDestroyed{Key: "k", Version: 1, Node: "n1"}); !slices.Equal(r.Key.Version(1).Destroy.Shredded, []string{"n1", "n3"}) {
		t.Fatalf("shredded %v, want sorted", r.Key.Version(1).Destroy.Shredded)
	}
	h.duplicate(fsm.ShareDestroyed{Key: "k", Version: 1, Node: "n3"})
	h.refused(fsm.ShareDestroyed{Key: "k", Version: 1, Node: "n9"}, fsm.ErrInvalidCommand)
	h.refused(fsm.ShareDestroyed{Key: "nope", Version: 1, Node: "n1"}, fsm.ErrUnknownKey)

	// Revoked and failed versions can be destroyed; a version being
	// refreshed cannot until the refresh ends.
	h.mustOK(h.change(fsm.OpRevoke, "k", 2))
	h.mustOK(destroy(2, time.Minute))
	h.mustOK(h.change(fsm.OpRotate, "k", 0))
	h.mustOK(fsm.KeygenFailed{Key: "k", Version: 3, Node: "n1", Reason: "crash"})
	h.mustOK(destroy(3, time.Minute))
	v4 := h.rotated("k")
	h.promoted("k", v4, 0)
	refresh := h.change(fsm.OpRefresh, "k", v4)
	refresh.Committee = lcCommittee()
	h.mustOK(refresh)
	h.mustOK(h.change(fsm.OpRetire, "k", v4))
	h.refused(destroy(v4, time.Minute), fsm.ErrBadTransition)
	h.mustOK(fsm.RefreshFailed{Key: "k", Version: v4, Epoch: 1, Node: "n1", Reason: "stalled"})
	h.mustOK(destroy(v4, time.Minute))
}

// Turning deletion_allowed off stops every destruction of the key that
// is scheduled and not yet executed; executed ones, and other keys', stay.
func TestTurningDeletionOffCancelsScheduledDestruction(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	cfg.MinDestroyDelay = time.Minute
	h := newLC(t, cfg)
	h.key("k", algEd25519, true)
	h.key("other", algEd25519, true)
	destroy := func(key string, v uint32) {
		c := h.change(fsm.OpDestroy, key, v)
		c.Delay = int64(time.Minute)
		h.mustOK(c)
	}
	// k: v1 destroyed, v2 and v3 scheduled, v4 primary; other: v1 scheduled.
	for range 3 {
		h.promoted("k", h.rotated("k"), 0)
	}
	h.mustOK(h.change(fsm.OpRetire, "k", 1))
	h.mustOK(h.change(fsm.OpRetire, "k", 2))
	h.mustOK(h.change(fsm.OpRevoke, "k", 3))
	destroy("k", 1)
	h.now += int64(time.Minute)
	h.mustOK(fsm.DestroyDue{Key: "k", Version: 1, Time: h.now})
	destroy("k", 2)
	destroy("k", 3)
	h.rotated("other")
	h.promoted("other", 2, 0)
	h.mustOK(h.change(fsm.OpRetire, "other", 1))
	destroy("other", 1)
	scheduled := func(key string, v uint32) bool { return h.keyOf(key).Version(v).Destroy != nil }

	// A policy that leaves deletion on cancels nothing; a refused one
	// that would turn it off changes nothing.
	h.mustOK(h.policy("k", new(uint32(4)), nil, nil))
	h.refused(h.policy("k", new(uint32(9)), nil, new(false)), fsm.ErrInvalidCommand)
	if !scheduled("k", 2) || !scheduled("k", 3) {
		t.Fatal("a destruction was cancelled while deletion stayed on")
	}

	res := h.mustOK(h.policy("k", nil, nil, new(false)))
	k := res.Key
	if k.DeletionAllowed || k.Version(2).Destroy != nil || k.Version(3).Destroy != nil {
		t.Fatalf("after deletion off: deletion %v, v2 %+v, v3 %+v; want both cancelled", k.DeletionAllowed, k.Version(2).Destroy, k.Version(3).Destroy)
	}
	if st2, st3 := k.Version(2).State, k.Version(3).State; st2 != fsm.KeyRetired || st3 != fsm.KeyRevoked {
		t.Fatalf("cancelled versions %s and %s, want retired and revoked as before", st2, st3)
	}
	if d := k.Version(1).Destroy; d == nil || !d.Executed || k.Version(1).State != fsm.KeyDestroyed {
		t.Fatalf("executed destruction %+v (%s), want it kept", d, k.Version(1).State)
	}
	if !scheduled("other", 1) {
		t.Fatal("another key's destruction was cancelled")
	}
	// Nothing is left to execute or cancel; destroying needs deletion on.
	h.now += int64(time.Hour)
	h.refused(fsm.DestroyDue{Key: "k", Version: 2, Time: h.now}, fsm.ErrStale)
	h.refused(h.change(fsm.OpCancelDestroy, "k", 3), fsm.ErrBadTransition)
	c := h.change(fsm.OpDestroy, "k", 2)
	c.Delay = int64(time.Minute)
	h.refused(c, fsm.ErrBadTransition)
	// Turning it on again restores nothing: each destruction is asked
	// for anew.
	if res := h.mustOK(h.policy("k", nil, nil, new(true))); res.Key.Version(2).Destroy != nil || res.Key.Version(3).Destroy != nil {
		t.Fatalf("deletion on again brought back %+v / %+v", res.Key.Version(2).Destroy, res.Key.Version(3).Destroy)
	}
	destroy("k", 2)
}

func TestRefresh(t *testing.T) {
	setup := func(t *testing.T) (*lcHarness, fsm.ChangeKey) {
		h := newLC(t, fsm.DefaultFSMConfig())
		h.key("ec", algECDSA, false)
		h.presig("p1", "ec")
		h.mustOK(h.signReq("before", "ec", 0))
		c := h.change(fsm.OpRefresh, "ec", 0)
		c.Committee = lcCommittee()
		return h, c
	}
	refreshed := func(node string, epoch uint32, pub []byte) fsm.ShareRefreshed {
		return fsm.ShareRefreshed{Key: "ec", Version: 1, Epoch: epoch, Node: node, PublicKey: pub}
	}

	t.Run("every member's new share switches the epoch", func(t *testing.T) {
		h, c := setup(t)
		res := h.mustOK(c)
		r := res.Key.Version(1).Refresh
		if res.Version != 1 || r == nil || r.Epoch != 1 || r.Index != h.idx || r.RequestID != c.RequestID || !slices.Equal(r.Committee, lcCommittee()) {
			t.Fatalf("refresh started %+v", r)
		}
		again := h.change(fsm.OpRefresh, "ec", 1)
		again.Committee = lcCommittee()
		h.refused(again, fsm.ErrBadTransition) // one at a time
		h.refused(refreshed("n1", 2, versionPub("ec", 1)), fsm.ErrStale)
		h.refused(refreshed("n9", 1, versionPub("ec", 1)), fsm.ErrInvalidCommand)
		h.mustOK(refreshed("n2", 1, versionPub("ec", 1)))
		h.duplicate(refreshed("n2", 1, versionPub("ec", 1)))
		got := h.mustOK(refreshed("n1", 1, versionPub("ec", 1)))
		if v := got.Key.Version(1); v.Epoch != 0 || !slices.Equal(v.Refresh.Confirmed, []string{"n1", "n2"}) {
			t.Fatalf("after two of three: %+v", v)
		}
		if len(h.f.Presigs("ec")) != 1 {
			t.Fatal("presignature dropped before the switch")
		}
		got = h.mustOK(refreshed("n3", 1, versionPub("ec", 1)))
		if v := got.Key.Version(1); v.Epoch != 1 || v.Refresh != nil || !slices.Equal(v.PublicKey, versionPub("ec", 1)) {
			t.Fatalf("after every member: %+v, want epoch 1 and the same public key", v)
		}
		if ps := h.f.Presigs("ec"); len(ps) != 0 {
			t.Fatalf("presignatures of the old shares kept: %v", presigIDs(ps))
		}
		// New requests sign with the new shares; a running one moves to
		// them on its next attempt.
		if s := h.mustOK(h.signReq("after", "ec", 0)).Sign; s.Epoch != 1 {
			t.Fatalf("new request epoch %d, want 1", s.Epoch)
		}
		if s := h.sign("before"); s.Epoch != 0 {
			t.Fatalf("running request epoch %d, want 0", s.Epoch)
		}
		if s := h.mustOK(fsm.SignRetry{RequestID: "before", Attempt: 2, Committee: []string{"n2", "n3"}}).Sign; s.Epoch != 1 {
			t.Fatalf("retried request epoch %d, want 1", s.Epoch)
		}
		h.refused(refreshed("n1", 1, versionPub("ec", 1)), fsm.ErrStale) // over
	})

	t.Run("another public key abandons the refresh", func(t *testing.T) {
		h, c := setup(t)
		h.mustOK(c)
		h.mustOK(refreshed("n1", 1, versionPub("ec", 1)))
		res := h.mustErr(refreshed("n2", 1, []byte("other")), fsm.ErrBadSignature)
		if v := h.keyOf("ec").Version(1); v.Refresh != nil || v.Epoch != 0 || !slices.Equal(v.PublicKey, versionPub("ec", 1)) {
			t.Fatalf("after a changed public key: %+v, want the refresh abandoned and the old shares kept", v)
		}
		if res.Key == nil || res.Key.Version(1).Refresh != nil {
			t.Fatalf("result %+v, want the key as the abandonment left it", res)
		}
		if len(h.f.Presigs("ec")) != 1 {
			t.Fatal("an abandoned refresh dropped presignatures")
		}
		h.refused(refreshed("n3", 1, versionPub("ec", 1)), fsm.ErrStale)
	})

	t.Run("a failure abandons the refresh", func(t *testing.T) {
		h, c := setup(t)
		h.mustOK(c)
		h.refused(fsm.RefreshFailed{Key: "ec", Version: 1, Epoch: 2, Node: "n1"}, fsm.ErrStale)
		h.refused(fsm.RefreshFailed{Key: "nope", Version: 1, Epoch: 1, Node: "n1"}, fsm.ErrUnknownKey)
		h.mustOK(fsm.RefreshFailed{Key: "ec", Version: 1, Epoch: 1, Node: "n1", Reason: "stalled"})
		if v := h.keyOf("ec").Version(1); v.Refresh != nil || v.Epoch != 0 {
			t.Fatalf("after failure: %+v", v)
		}
		h.refused(refreshed("n2", 1, versionPub("ec", 1)), fsm.ErrStale)
		// A new refresh takes the next epoch number again.
		c.RequestID = "refresh-again"
		if r := h.mustOK(c).Key.Version(1).Refresh; r.Epoch != 1 {
			t.Fatalf("second refresh epoch %d", r.Epoch)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		h, c := setup(t)
		bad := c
		bad.Committee = []string{"n1", "n9"}
		h.refused(bad, fsm.ErrInvalidCommand)
		bad.Committee = nil
		h.refused(bad, fsm.ErrInvalidCommand)
		h.rotated("ec")
		h.mustOK(h.change(fsm.OpRetire, "ec", 2))
		retired := c
		retired.Version = 2
		h.refused(retired, fsm.ErrBadTransition)
		unknown := c
		unknown.Version = 7
		h.refused(unknown, fsm.ErrUnknownVersion)
	})
}

// issue builds an IssueHandle whose token is "tok-"+id.
func (h *lcHarness) issue(id, key, purpose string, ttl time.Duration, maxUses uint32) fsm.IssueHandle {
	return fsm.IssueHandle{RequestID: h.nextID("issue"), HandleID: id, TokenHash: fsm.HandleTokenHash([]byte("tok-" + id)),
		Key: key, Purpose: purpose, TTL: int64(ttl), MaxUses: maxUses, Actor: "admin", Time: h.now}
}

// signUnder is a request to sign with key under handle id, proving
// "tok-"+id.
func (h *lcHarness) signUnder(reqID, key, handleID string) fsm.SignRequested {
	c := h.signReq(reqID, key, 0)
	c.Handle, c.HandleProof = handleID, fsm.HandleTokenHash([]byte("tok-"+handleID))
	return c
}

func (h *lcHarness) handle(id string) *fsm.Handle {
	h.t.Helper()
	hd, ok := h.f.Handle(id)
	if !ok {
		h.t.Fatalf("no handle %s", id)
	}
	return hd
}

func handleFixture(t *testing.T, cfg fsm.FSMConfig) *lcHarness {
	h := newLC(t, cfg)
	h.key("k", algEd25519, false, "sign", "backup")
	h.key("other", algEd25519, false)
	return h
}

func TestSignHandleDenials(t *testing.T) {
	cases := []struct {
		name string
		deny func(h *lcHarness) fsm.SignRequested
		why  string // in the error, so each case fails for its own reason
	}{
		{"no handle", func(h *lcHarness) fsm.SignRequested {
			c := h.signUnder("s", "k", "")
			c.HandleProof = [32]byte{}
			return c
		}, "not recognised"},
		{"unknown handle", func(h *lcHarness) fsm.SignRequested { return h.signUnder("s", "k", "ghost") }, "not recognised"},
		{"wrong token", func(h *lcHarness) fsm.SignRequested {
			h.mustOK(h.issue("h1", "k", "sign", time.Hour, 0))
			c := h.signUnder("s", "k", "h1")
			c.HandleProof = fsm.HandleTokenHash([]byte("tok-guess"))
			return c
		}, "not recognised"},
		{"expired", func(h *lcHarness) fsm.SignRequested {
			h.mustOK(h.issue("h1", "k", "sign", 10*time.Second, 0))
			h.now += int64(10 * time.Second)
			return h.signUnder("s", "k", "h1")
		}, "expired"},
		{"expired at replicated time despite an earlier stamp", func(h *lcHarness) fsm.SignRequested {
			issued := h.now
			h.mustOK(h.issue("h1", "k", "sign", 10*time.Second, 0))
			h.now = issued + int64(10*time.Second)
			h.mustOK(h.issue("h2", "other", "sign", time.Hour, 0)) // moves the clock
			h.now = issued + int64(time.Second)                    // a slow leader's stamp
			return h.signUnder("s", "k", "h1")
		}, "expired"},
		{"revoked", func(h *lcHarness) fsm.SignRequested {
			h.mustOK(h.issue("h1", "k", "sign", time.Hour, 0))
			h.mustOK(fsm.RevokeHandle{RequestID: "rv", HandleID: "h1", Actor: "admin", Time: h.now})
			return h.signUnder("s", "k", "h1")
		}, "revoked"},
		{"used up", func(h *lcHarness) fsm.SignRequested {
			h.mustOK(h.issue("h1", "k", "sign", time.Hour, 2))
			h.mustOK(h.signUnder("u1", "k", "h1"))
			h.duplicate(h.signUnder("u1", "k", "h1")) // a repeat uses nothing
			h.mustOK(h.signUnder("u2", "k", "h1"))
			if hd := h.handle("h1"); hd.Uses != 2 {
				h.t.Fatalf("uses %d after two requests and a repeat, want 2", hd.Uses)
			}
			return h.signUnder("s", "k", "h1")
		}, "used up"},
		{"another key", func(h *lcHarness) fsm.SignRequested {
			h.mustOK(h.issue("h1", "other", "sign", time.Hour, 0))
			return h.signUnder("s", "k", "h1")
		}, "for key"},
		{"another purpose", func(h *lcHarness) fsm.SignRequested {
			h.mustOK(h.issue("h1", "k", "backup", time.Hour, 0))
			c := h.signUnder("s", "k", "h1")
			c.Purpose = "sign"
			return c
		}, "purpose"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := handleFixture(t, fsm.DefaultFSMConfig())
			c := tc.deny(h)
			res := h.refused(c, fsm.ErrHandleDenied)
			if !strings.Contains(res.Err.Error(), tc.why) {
				t.Fatalf("denial %q, want it to say %q", res.Err, tc.why)
			}
			if _, ok := h.f.Sign(c.RequestID); ok {
				t.Fatal("a denied request was recorded")
			}
		})
	}
}

func TestSignHandleGrants(t *testing.T) {
	h := handleFixture(t, fsm.DefaultFSMConfig())
	h.mustOK(h.issue("b", "k", "backup", time.Hour, 0))
	h.mustOK(h.signUnder("any-purpose", "k", "b"))
	c := h.signUnder("named-purpose", "k", "b")
	c.Purpose = "backup"
	h.mustOK(c)
	// A request refused after the handle check uses nothing.
	bad := h.signUnder("bad-committee", "k", "b")
	bad.Committee = []string{"n1", "n9"}
	h.refused(bad, fsm.ErrInvalidCommand)
	if hd := h.handle("b"); hd.Uses != 2 {
		t.Fatalf("uses %d, want 2", hd.Uses)
	}
	// Until the last nanosecond of its life.
	h.mustOK(h.issue("short", "k", "sign", time.Second, 0))
	h.now += int64(time.Second) - 1
	h.mustOK(h.signUnder("just-in-time", "k", "short"))
}

func TestAuditKeySignsWithoutAHandle(t *testing.T) {
	h := newLC(t, fsm.DefaultFSMConfig())
	for _, name := range []string{fsm.AuditKeyName, fsm.AuditKeyName + ".2", "_auditor"} {
		h.mustOK(fsm.CreateKey{RequestID: "c" + name, Name: name, Algorithm: algEd25519, Threshold: 1, Members: lcMembers(), Time: h.now})
		h.shares(name, 1)
	}
	bare := func(id, key string) fsm.SignRequested {
		return fsm.SignRequested{RequestID: id, Key: key, Digest: digestOf(id), Committee: lcCommittee(), Time: h.now}
	}
	h.mustOK(bare("a1", fsm.AuditKeyName))
	h.mustOK(bare("a2", fsm.AuditKeyName+".2"))
	// Its retries carry no proof either, as the request did; one that
	// carries a proof is not the request's.
	h.duplicate(bare("a1", fsm.AuditKeyName))
	proved := bare("a1", fsm.AuditKeyName)
	proved.HandleProof = fsm.HandleTokenHash([]byte("tok-any"))
	if res := h.refused(proved, fsm.ErrHandleDenied); !strings.Contains(res.Err.Error(), "not the handle the request was made with") {
		t.Fatalf("audit key retry with a proof: %v", res.Err)
	}
	h.refused(bare("a3", "_auditor"), fsm.ErrHandleDenied) // not an audit key name
	// A handle that is named is checked, audit key or not.
	named := bare("a4", fsm.AuditKeyName)
	named.Handle = "ghost"
	h.refused(named, fsm.ErrHandleDenied)
}

func TestIssueHandle(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	cfg.MaxHandleTTL = time.Hour
	h := handleFixture(t, cfg)
	issuedAt := h.now
	res := h.mustOK(h.issue("h1", "k", "backup", time.Hour, 3))
	want := &fsm.Handle{ID: "h1", TokenHash: fsm.HandleTokenHash([]byte("tok-h1")), Key: "k", Purpose: "backup",
		Expires: issuedAt + int64(time.Hour), MaxUses: 3, Actor: "admin", Issued: issuedAt}
	if res.Duplicate || !reflect.DeepEqual(res.Handle, want) || !reflect.DeepEqual(h.handle("h1"), want) {
		t.Fatalf("issued %+v, want %+v", res.Handle, want)
	}
	if snap := snapshotBytes(t, h.f); strings.Contains(string(snap), "tok-h1") {
		t.Fatal("the snapshot holds a handle's token")
	}

	refusals := []struct {
		name string
		cmd  fsm.IssueHandle
		want error
	}{
		{"ttl above the cap", h.issue("h2", "k", "sign", time.Hour+1, 0), fsm.ErrInvalidCommand},
		{"zero ttl", h.issue("h2", "k", "sign", 0, 0), fsm.ErrInvalidCommand},
		{"negative ttl", h.issue("h2", "k", "sign", -time.Second, 0), fsm.ErrInvalidCommand},
		{"purpose the key does not allow", h.issue("h2", "other", "backup", time.Minute, 0), fsm.ErrInvalidCommand},
		{"empty purpose", h.issue("h2", "k", "", time.Minute, 0), fsm.ErrInvalidCommand},
		{"unknown key", h.issue("h2", "nope", "sign", time.Minute, 0), fsm.ErrUnknownKey},
		{"id taken", h.issue("h1", "k", "sign", time.Minute, 0), fsm.ErrHandleExists},
		{"no handle id", h.issue("", "k", "sign", time.Minute, 0), fsm.ErrInvalidCommand},
		{"no request id", func() fsm.IssueHandle {
			c := h.issue("h2", "k", "sign", time.Minute, 0)
			c.RequestID = ""
			return c
		}(), fsm.ErrInvalidCommand},
	}
	for _, tc := range refusals {
		t.Log(tc.name)
		h.refused(tc.cmd, tc.want)
	}
	h.mustOK(h.issue("h2", "k", "sign", time.Hour, 0)) // the cap itself is allowed
}

func TestHandleTableBoundSweepsExpiredHandles(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	cfg.MaxHandles = 4 // the fixture's two keys hold two
	h := handleFixture(t, cfg)
	h.mustOK(h.issue("short", "k", "sign", 10*time.Second, 0))
	h.mustOK(h.issue("long", "k", "sign", time.Hour, 0))
	h.refused(h.issue("third", "k", "sign", time.Hour, 0), fsm.ErrTooManyHandles)

	// Once one has expired, issuing sweeps it and fits.
	h.now += int64(10 * time.Second)
	h.mustOK(h.issue("third", "k", "sign", time.Hour, 0))
	if _, ok := h.f.Handle("short"); ok {
		t.Fatal("the expired handle survived the sweep")
	}
	if st := h.f.TableStats(); st.Handles != 4 || st.MaxHandles != 4 {
		t.Fatalf("stats %+v, want a full table of 4", st)
	}
	// A revoked handle keeps its place until it expires, so its use is
	// denied as revoked, not as unknown.
	h.mustOK(fsm.RevokeHandle{RequestID: "rv-long", HandleID: "long", Time: h.now})
	h.refused(h.issue("fourth", "k", "sign", time.Hour, 0), fsm.ErrTooManyHandles)
	if res := h.refused(h.signUnder("s", "k", "long"), fsm.ErrHandleDenied); !strings.Contains(res.Err.Error(), "revoked") {
		t.Fatalf("use of a revoked handle: %v", res.Err)
	}
}

func TestRevokeHandle(t *testing.T) {
	h := handleFixture(t, fsm.DefaultFSMConfig())
	h.refused(fsm.RevokeHandle{RequestID: "rv1", HandleID: "ghost", Time: h.now}, fsm.ErrHandleDenied)
	h.mustOK(h.issue("h1", "k", "sign", time.Hour, 0))
	h.refused(fsm.RevokeHandle{HandleID: "h1", Time: h.now}, fsm.ErrHandleDenied) // no request id
	res := h.mustOK(fsm.RevokeHandle{RequestID: "rv1", HandleID: "h1", Actor: "admin", Time: h.now})
	if res.Handle == nil || !res.Handle.Revoked || !h.handle("h1").Revoked {
		t.Fatalf("revoke: %+v", res)
	}
}

// idemCase is one lifecycle request for the idempotency table: setup
// makes it valid, cmd builds it under request id, retry is the same
// request as a leader would send it again (other stamps, other leader
// picks), other reuses id with other input.
type idemCase struct {
	name  string
	setup func(h *lcHarness)
	cmd   func(h *lcHarness, id string) fsm.Command
	retry func(h *lcHarness, id string) fsm.Command
	other func(h *lcHarness, id string) fsm.Command
}

// changeCase builds an idemCase for a ChangeKey; edit sets the fields of
// the request, otherEdit those of the conflicting one.
func changeCase(name string, setup func(*lcHarness), op fsm.KeyOp, edit, otherEdit func(*fsm.ChangeKey)) idemCase {
	build := func(h *lcHarness, id string, e func(*fsm.ChangeKey)) fsm.ChangeKey {
		c := fsm.ChangeKey{RequestID: id, Op: op, Key: "k", Actor: "admin", Time: h.now}
		e(&c)
		return c
	}
	return idemCase{
		name:  name,
		setup: setup,
		cmd:   func(h *lcHarness, id string) fsm.Command { return build(h, id, edit) },
		retry: func(h *lcHarness, id string) fsm.Command {
			c := build(h, id, edit)
			c.Time += int64(time.Minute)
			c.Actor = "admin-again"
			if c.Committee != nil {
				c.Committee = []string{"n2", "n3"}
			}
			return c
		},
		other: func(h *lcHarness, id string) fsm.Command { return build(h, id, otherEdit) },
	}
}

func idemCases() []idemCase {
	staged := func(h *lcHarness) { h.rotated("k") }
	promoted := func(h *lcHarness) { h.rotated("k"); h.promoted("k", 2, 0) }
	retired := func(h *lcHarness) {
		promoted(h)
		h.mustOK(h.policy("k", nil, nil, new(true)))
		h.mustOK(h.change(fsm.OpRetire, "k", 1))
	}
	scheduled := func(h *lcHarness) {
		retired(h)
		c := h.change(fsm.OpDestroy, "k", 1)
		c.Delay = int64(time.Minute)
		h.mustOK(c)
	}
	version := func(v uint32) func(*fsm.ChangeKey) { return func(c *fsm.ChangeKey) { c.Version = v } }
	return []idemCase{
		changeCase("rotate", nil, fsm.OpRotate, version(0), version(1)),
		changeCase("promote", staged, fsm.OpPromote,
			func(c *fsm.ChangeKey) { c.Version, c.DualSign = 2, int64(time.Hour) },
			func(c *fsm.ChangeKey) { c.Version, c.DualSign = 2, int64(2*time.Hour) }),
		changeCase("rollback", promoted, fsm.OpRollback, version(0), version(1)),
		changeCase("retire", promoted, fsm.OpRetire, version(1), version(2)),
		changeCase("revoke", promoted, fsm.OpRevoke, version(1), version(0)),
		changeCase("policy", promoted, fsm.OpPolicy,
			func(c *fsm.ChangeKey) { c.MinSignVersion = new(uint32(2)) },
			func(c *fsm.ChangeKey) { c.MinSignVersion, c.MinVerifyVersion = new(uint32(2)), new(uint32(1)) }),
		changeCase("destroy", retired, fsm.OpDestroy,
			func(c *fsm.ChangeKey) { c.Version, c.Delay = 1, int64(time.Minute) },
			func(c *fsm.ChangeKey) { c.Version, c.Delay = 1, int64(time.Hour) }),
		changeCase("cancel destroy", scheduled, fsm.OpCancelDestroy, version(1), version(2)),
		changeCase("refresh", nil, fsm.OpRefresh,
			func(c *fsm.ChangeKey) { c.Committee = lcCommittee() },
			func(c *fsm.ChangeKey) { c.Version, c.Committee = 1, lcCommittee() }),
		{
			name: "issue handle",
			cmd: func(h *lcHarness, id string) fsm.Command {
				c := h.issue("h1", "k", "sign", time.Hour, 2)
				c.RequestID = id
				return c
			},
			// A retry reaches the leader again, which mints another id and
			// token; the first handle stands.
			retry: func(h *lcHarness, id string) fsm.Command {
				c := h.issue("h1-again", "k", "sign", time.Hour, 2)
				c.RequestID, c.Time = id, h.now+int64(time.Minute)
				return c
			},
			other: func(h *lcHarness, id string) fsm.Command {
				c := h.issue("h1-again", "k", "sign", time.Hour, 3)
				c.RequestID = id
				return c
			},
		},
		{
			name:  "revoke handle",
			setup: func(h *lcHarness) { h.mustOK(h.issue("h1", "k", "sign", time.Hour, 0)) },
			cmd: func(h *lcHarness, id string) fsm.Command {
				return fsm.RevokeHandle{RequestID: id, HandleID: "h1", Actor: "admin", Time: h.now}
			},
			retry: func(h *lcHarness, id string) fsm.Command {
				return fsm.RevokeHandle{RequestID: id, HandleID: "h1", Actor: "admin-again", Time: h.now + int64(time.Minute)}
			},
			other: func(h *lcHarness, id string) fsm.Command {
				return fsm.RevokeHandle{RequestID: id, HandleID: testHandleID("k"), Time: h.now}
			},
		},
	}
}

func TestLifecycleRequestsAreIdempotent(t *testing.T) {
	for _, tc := range idemCases() {
		t.Run(tc.name, func(t *testing.T) {
			h := newLC(t, fsm.DefaultFSMConfig())
			h.key("k", algEd25519, false)
			if tc.setup != nil {
				tc.setup(h)
			}
			first := h.mustOK(tc.cmd(h, "req"))
			if first.Duplicate {
				t.Fatalf("first request: %+v", first)
			}
			records := h.f.TableStats().RequestRecords

			// The same request again returns the stored outcome and
			// changes nothing, whatever the leader stamped on it.
			dup := h.duplicate(tc.retry(h, "req"))
			if dup.Version != first.Version || !reflect.DeepEqual(dup.Handle, first.Handle) {
				t.Fatalf("duplicate %+v, want the first outcome %+v", dup, first)
			}
			if first.Key != nil && (dup.Key == nil || dup.Key.Name != first.Key.Name) {
				t.Fatalf("duplicate key %+v, want %s", dup.Key, first.Key.Name)
			}
			h.duplicate(tc.cmd(h, "req"))

			// Other input under the same id conflicts, whichever kind of
			// lifecycle request carries it.
			h.refused(tc.other(h, "req"), fsm.ErrRequestConflict)
			policy := h.policy("k", nil, nil, new(true))
			policy.RequestID = "req"
			h.refused(policy, fsm.ErrRequestConflict)
			h.refused(fsm.IssueHandle{RequestID: "req", HandleID: "fresh", Key: "k", Purpose: "sign", TTL: int64(time.Minute), Time: h.now}, fsm.ErrRequestConflict)
			h.refused(fsm.RevokeHandle{RequestID: "req", HandleID: "fresh", Time: h.now}, fsm.ErrRequestConflict)
			if got := h.f.TableStats().RequestRecords; got != records {
				t.Fatalf("request records %d after repeats and conflicts, want %d", got, records)
			}
		})
	}
}

func TestLifecycleDuplicateReturnsTheStoredOutcome(t *testing.T) {
	h := newLC(t, fsm.DefaultFSMConfig())
	h.key("k", algEd25519, false)
	rotate := h.change(fsm.OpRotate, "k", 0)
	if v := h.mustOK(rotate).Version; v != 2 {
		t.Fatalf("rotate made v%d", v)
	}
	h.shares("k", 2)
	h.mustOK(h.change(fsm.OpRotate, "k", 0)) // v3
	// The retry names v2, the version it made, and makes no v4.
	if dup := h.duplicate(rotate); dup.Version != 2 || len(dup.Key.Versions) != 3 {
		t.Fatalf("retried rotate: v%d, %d versions; want v2 of 3", dup.Version, len(dup.Key.Versions))
	}
}

func TestRefusedLifecycleRequestsAreNotRemembered(t *testing.T) {
	h := newLC(t, fsm.DefaultFSMConfig())
	h.key("k", algEd25519, false)
	h.mustOK(h.change(fsm.OpRotate, "k", 0))

	promote := h.change(fsm.OpPromote, "k", 2)
	h.refused(promote, fsm.ErrBadTransition) // v2 still generating
	h.shares("k", 2)
	if res := h.mustOK(promote); res.Duplicate || res.Key.Primary != 2 {
		t.Fatalf("promote after its refusal: %+v, want it judged afresh", res)
	}

	issue := h.issue("h1", "later", "sign", time.Hour, 0)
	h.refused(issue, fsm.ErrUnknownKey)
	h.key("later", algEd25519, false)
	if res := h.mustOK(issue); res.Duplicate || res.Handle == nil {
		t.Fatalf("issue after its refusal: %+v", res)
	}

	revoke := fsm.RevokeHandle{RequestID: "rv", HandleID: "h2", Time: h.now}
	h.refused(revoke, fsm.ErrHandleDenied)
	h.mustOK(h.issue("h2", "k", "sign", time.Hour, 0))
	if res := h.mustOK(revoke); res.Duplicate || !res.Handle.Revoked {
		t.Fatalf("revoke after its refusal: %+v", res)
	}
}

func TestRequestRecordsAreBoundedByCount(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	cfg.MaxRequestRecords = 2
	h := newLC(t, cfg)
	h.key("k", algEd25519, false) // its handle is request record one
	p1, p2, p3 := h.policy("k", nil, nil, nil), h.policy("k", nil, nil, nil), h.policy("k", nil, nil, nil)
	for _, c := range []fsm.ChangeKey{p1, p2, p3} {
		h.mustOK(c)
	}
	if st := h.f.TableStats(); st.RequestRecords != 2 || st.MaxRequestRecords != 2 {
		t.Fatalf("stats %+v, want 2 records", st)
	}
	h.duplicate(p3)
	h.duplicate(p2)
	// The oldest is forgotten: its retry is a new request, which in turn
	// pushes out p2.
	if res := h.mustOK(p1); res.Duplicate {
		t.Fatal("p1 still remembered beyond the count bound")
	}
	if res := h.mustOK(p2); res.Duplicate {
		t.Fatal("p2 still remembered after p1 pushed it out")
	}
	h.duplicate(p1)
}

func TestRequestRecordsAreBoundedByAge(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	cfg.RequestRecordAge = time.Hour
	h := newLC(t, cfg)
	h.key("k", algEd25519, false)
	start := h.now
	a := h.policy("k", nil, nil, nil)
	h.mustOK(a)
	h.now = start + int64(30*time.Minute)
	b := h.policy("k", nil, nil, nil)
	h.mustOK(b)
	h.duplicate(a)
	h.now = start + int64(time.Hour)
	c := h.policy("k", nil, nil, nil)
	h.mustOK(c) // remembering c forgets what is an hour old
	if st := h.f.TableStats(); st.RequestRecords != 2 {
		t.Fatalf("stats %+v, want b and c remembered", st)
	}
	h.duplicate(b)
	if res := h.mustOK(a); res.Duplicate {
		t.Fatal("a still remembered an hour later")
	}
}

func TestFinishedSignRecordsAreBoundedByAge(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	cfg.RequestRecordAge = time.Hour
	h := newLC(t, cfg)
	h.key("k", algEd25519, false)
	start := h.now
	complete := func(id string) {
		h.mustOK(fsm.SignCompleted{RequestID: id, Attempt: 1, Node: "n1", Signature: sigBy("k", 1, id)})
	}
	h.mustOK(h.signReq("running", "k", 0))
	h.mustOK(h.signReq("old", "k", 0))
	complete("old")
	h.now = start + int64(30*time.Minute)
	h.mustOK(h.signReq("young", "k", 0))
	complete("young")
	h.duplicate(h.signReq("old", "k", 0))

	h.now = start + int64(time.Hour)
	h.mustOK(h.signReq("new", "k", 0))
	complete("new") // finishing it forgets what was requested an hour ago
	if _, ok := h.f.Sign("old"); ok {
		t.Fatal("a finished record outlived the age bound")
	}
	for _, id := range []string{"running", "young", "new"} {
		h.sign(id)
	}
	if s := h.sign("running"); s.State != fsm.SignStatePending {
		t.Fatalf("a pending record was aged out: %+v", s)
	}
	if res := h.mustOK(h.signReq("old", "k", 0)); res.Duplicate || res.Sign.State != fsm.SignStatePending {
		t.Fatalf("old after the age bound: %+v, want a new request", res)
	}
}

// The age bound holds on lookup too: a record past it counts as absent
// when its id comes again, whether or not a later request trimmed the
// table. The retry is then a new request, and other input under the id is
// no conflict.
func TestRequestRecordsExpireOnLookup(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	cfg.RequestRecordAge = time.Hour
	h := newLC(t, cfg)
	h.key("k", algEd25519, false)
	start := h.now
	rotate := h.change(fsm.OpRotate, "k", 0)
	if v := h.mustOK(rotate).Version; v != 2 {
		t.Fatalf("rotate made v%d", v)
	}
	h.shares("k", 2)
	policy := h.policy("k", nil, nil, nil)
	h.mustOK(policy)
	at := func(c fsm.ChangeKey, d time.Duration) fsm.ChangeKey {
		c.Time = start + int64(d)
		return c
	}
	if dup := h.duplicate(at(rotate, time.Hour-1)); dup.Version != 2 {
		t.Fatalf("retry just within the age: v%d, want v2", dup.Version)
	}

	// A refused request moves the clock to the age and trims nothing.
	records := h.f.TableStats().RequestRecords
	h.refused(at(h.change(fsm.OpRotate, "nope", 0), time.Hour), fsm.ErrUnknownKey)
	if got := h.f.TableStats().RequestRecords; got != records {
		t.Fatalf("%d request records, want the %d expired ones still held", got, records)
	}
	res := h.mustOK(at(rotate, time.Hour))
	if res.Duplicate || res.Version != 3 || len(res.Key.Versions) != 3 {
		t.Fatalf("retry at the age: %+v, want a new rotation to v3", res)
	}
	if dup := h.duplicate(at(rotate, time.Hour)); dup.Version != 3 {
		t.Fatalf("retry of the new request: v%d, want v3", dup.Version)
	}
	retire := at(h.change(fsm.OpRetire, "k", 2), time.Hour)
	retire.RequestID = policy.RequestID
	if res := h.mustOK(retire); res.Duplicate || res.Version != 2 {
		t.Fatalf("other input under an expired id: %+v, want a new request", res)
	}
}

// A finished sign record past the age counts as absent when its id comes
// again, whether or not a later finish trimmed it: the request is new, and
// is judged by its own input and handle. A pending record never expires.
func TestFinishedSignRecordsExpireOnLookup(t *testing.T) {
	cfg := fsm.DefaultFSMConfig()
	cfg.RequestRecordAge = time.Hour
	h := handleFixture(t, cfg)
	start := h.now
	h.mustOK(h.issue("h2", "k", "sign", 2*time.Hour, 0))
	complete := func(id string) {
		h.mustOK(fsm.SignCompleted{RequestID: id, Attempt: 1, Node: "n1", Signature: sigBy("k", 1, id)})
	}
	for _, id := range []string{"running", "done", "failed", "other"} {
		h.mustOK(h.signReq(id, "k", 0))
	}
	complete("done")
	h.mustOK(fsm.SignFailed{RequestID: "failed", Attempt: 1, Reason: "stalled"})
	complete("other")

	h.now = start + int64(time.Hour) - 1
	h.duplicate(h.signReq("done", "k", 0))
	// A refused request moves the clock to the age; no finish trims.
	h.now = start + int64(time.Hour)
	h.refused(h.signReq("x", "nope", 0), fsm.ErrHandleDenied)
	for _, id := range []string{"done", "failed", "other"} {
		h.sign(id) // still held
	}

	again := h.mustOK(h.signReq("done", "k", 0))
	if s := again.Sign; again.Duplicate || s.State != fsm.SignStatePending || s.Signature != nil || s.Time != h.now || s.SessionIndex != h.idx {
		t.Fatalf("done at the age: %+v, want a new request", again)
	}
	other := h.signReq("other", "k", 0)
	other.Digest = digestOf("else")
	if res := h.mustOK(other); res.Duplicate || res.Sign.DigestHash != sha256.Sum256(digestOf("else")) {
		t.Fatalf("other input under an expired id: %+v, want a new request", res)
	}
	// The expired record binds no handle: a request under another is new.
	res := h.mustOK(h.signUnder("failed", "k", "h2"))
	if res.Duplicate || res.Sign.State != fsm.SignStatePending || res.Sign.HandleProof != fsm.HandleTokenHash([]byte("tok-h2")) {
		t.Fatalf("failed at the age under another handle: %+v, want a new request", res)
	}
	if dup := h.duplicate(h.signReq("running", "k", 0)); dup.Sign.State != fsm.SignStatePending || dup.Sign.Time != start {
		t.Fatalf("running at the age: %+v, want the pending record", dup.Sign)
	}
	if st := h.f.TableStats(); st.PendingSigns != 4 || st.SignRecords != 4 {
		t.Fatalf("stats %+v, want four pending records and nothing else", st)
	}
}

// A request id is used again, during a dual-sign window, while the
// companion of its earlier request still runs: after the earlier request
// failed (a re-run), or after its finished record was evicted. The running
// companion carries on for the new request, with no second record and no
// second pending slot; other input conflicts, with the failed record or
// with the companion.
func TestReusedIDWhileItsCompanionRuns(t *testing.T) {
	cases := []struct {
		name string
		cfg  func(*fsm.FSMConfig)
		end  func(h *lcHarness) // ends s1 but not its companion
		// byCompanion: other input conflicts with the companion, there
		// being no record of s1 left to conflict with.
		byCompanion bool
	}{
		{"re-run of the failed request", func(*fsm.FSMConfig) {}, func(h *lcHarness) {
			h.mustOK(fsm.SignFailed{RequestID: "s1", Attempt: 1, Reason: "stalled"})
		}, false},
		{"new request after the finished one was evicted", func(c *fsm.FSMConfig) { c.MaxSignRecords = 1 }, func(h *lcHarness) {
			h.mustOK(fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n1", Signature: sigBy("k", 2, "s1")})
			h.mustOK(h.signReq("x", "k", 1))
			h.mustOK(fsm.SignCompleted{RequestID: "x", Attempt: 1, Node: "n1", Signature: sigBy("k", 1, "x")})
			if _, ok := h.f.Sign("s1"); ok {
				h.t.Fatal("s1 not evicted")
			}
		}, true},
	}
	companionID := signs.DualRequestID("s1", 1)
	// setup leaves s1's companion running alone and returns its record.
	setup := func(t *testing.T, cfgEdit func(*fsm.FSMConfig), end func(*lcHarness)) (*lcHarness, *fsm.Sign) {
		cfg := fsm.DefaultFSMConfig()
		cfgEdit(&cfg)
		h := newLC(t, cfg)
		h.key("k", algEd25519, false)
		h.rotated("k")
		h.promoted("k", 2, time.Hour)
		h.mustOK(h.signReq("s1", "k", 0))
		end(h)
		d := h.sign(companionID)
		if d.State != fsm.SignStatePending {
			t.Fatalf("companion %+v, want still running", d)
		}
		if st := h.f.TableStats(); st.PendingSigns != 1 {
			t.Fatalf("stats %+v, want the companion alone pending", st)
		}
		return h, d
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, running := setup(t, tc.cfg, tc.end)
			again := h.mustOK(h.signReq("s1", "k", 0))
			if again.Duplicate || again.Sign.State != fsm.SignStatePending || again.Sign.Dual != companionID || again.Sign.SessionIndex != h.idx {
				t.Fatalf("s1 again: %+v", again.Sign)
			}
			if d := h.sign(companionID); !reflect.DeepEqual(d, running) {
				t.Fatalf("companion %+v, want the running one untouched: %+v", d, running)
			}
			if st := h.f.TableStats(); st.PendingSigns != 2 || len(h.f.PendingSigns()) != 2 {
				t.Fatalf("stats %+v with %d pending records, want s1 and its companion", st, len(h.f.PendingSigns()))
			}
			// Both finish and release exactly their two slots.
			h.mustOK(fsm.SignCompleted{RequestID: companionID, Attempt: 1, Node: "n1", Signature: sigBy("k", 1, "s1")})
			h.mustOK(fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n1", Signature: sigBy("k", 2, "s1")})
			if st := h.f.TableStats(); st.PendingSigns != 0 || len(h.f.PendingSigns()) != 0 {
				t.Fatalf("stats %+v after both finished, want nothing pending", st)
			}
		})
		t.Run(tc.name+" with other input", func(t *testing.T) {
			h, _ := setup(t, tc.cfg, tc.end)
			c := h.signReq("s1", "k", 0)
			c.Digest = digestOf("other")
			if res := h.refused(c, fsm.ErrRequestConflict); strings.Contains(res.Err.Error(), "companion") != tc.byCompanion {
				t.Fatalf("conflict %q, want it by the companion: %v", res.Err, tc.byCompanion)
			}
		})
	}

	// A running companion is adopted only by a request for its own key: a
	// request under the id for another key with the same input conflicts
	// rather than return a signature by the first key's old version.
	t.Run("new request for another key conflicts with the companion", func(t *testing.T) {
		cfg := fsm.DefaultFSMConfig()
		cfg.MaxSignRecords = 1
		h := newLC(t, cfg)
		for _, name := range []string{"ka", "kb"} {
			h.key(name, algEd25519, false)
			h.rotated(name)
			h.promoted(name, 2, time.Hour)
		}
		h.mustOK(h.signReq("s1", "ka", 0))
		h.mustOK(fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n1", Signature: sigBy("ka", 2, "s1")})
		h.mustOK(h.signReq("x", "ka", 1))
		h.mustOK(fsm.SignCompleted{RequestID: "x", Attempt: 1, Node: "n1", Signature: sigBy("ka", 1, "x")})
		if res := h.apply(h.signReq("s1", "kb", 0)); !errors.Is(res.Err, fsm.ErrRequestConflict) {
			t.Fatalf("a request for kb under the id of ka's running companion: %+v, want ErrRequestConflict", res)
		}
	})
}
