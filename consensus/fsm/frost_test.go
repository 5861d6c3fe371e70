package fsm_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
)

// frostFixture boots n1..n3 on a build with FROST, raises the protocol,
// and makes the 2-of-3 Ed25519 key "ed".
func frostFixture(t *testing.T) *fsmHarness {
	h := newFSMHarness(t, fsm.DefaultFSMConfig())
	members := []string{"n1", "n2", "n3"}
	h.raiseToV2(members...)
	h.activeKey("ed", algEd25519, 1, members...)
	return h
}

func commitment(id string) fsm.FrostCommit {
	return fsm.FrostCommit{ID: id, Commitment: bytes.Repeat([]byte{byte(len(id))}, pool.FrostCommitmentSize)}
}

func published(node string, ids ...string) fsm.FrostCommitted {
	c := fsm.FrostCommitted{Key: "ed", Version: 1, Node: node, Boot: "boot-" + node}
	for _, id := range ids {
		c.Commitments = append(c.Commitments, commitment(id))
	}
	return c
}

func frostSign(id string, at int64, committee []string, frost ...string) fsm.SignRequested {
	return authorized(fsm.SignRequested{RequestID: id, Key: "ed", Digest: []byte("msg " + id), Committee: committee, Time: at, Frost: frost})
}

// A commitment is consumed by the one request that names it, atomically
// with accepting it; a second request naming it is refused.
func TestFrostCommitmentIsConsumedOnce(t *testing.T) {
	h := frostFixture(t)
	h.mustOK(published("n1", "a1", "a2"))
	h.mustOK(published("n2", "b1"))
	res := h.mustOK(frostSign("s1", 2, []string{"n1", "n2"}, "a1", "b1"))
	if len(res.Sign.Frost) != 2 || res.Sign.Frost[0].ID != "a1" || res.Sign.Frost[1].Node != "n2" {
		t.Fatalf("sign record holds commitments %+v", res.Sign.Frost)
	}
	if got := h.f.FrostCommitments("ed", 1, 0); len(got) != 1 || got[0].ID != "a2" {
		t.Fatalf("after the request the table holds %+v, want a2 only", got)
	}
	if dup := h.mustOK(frostSign("s1", 3, []string{"n1", "n2"}, "a1", "b1")); !dup.Duplicate {
		t.Fatal("the same request again is not a duplicate")
	}
	h.mustErr(frostSign("s2", 4, []string{"n1", "n2"}, "a2", "b1"), fsm.ErrFrostUnavailable)
	// The refusal consumed nothing: a2 is still there.
	if got := h.f.FrostCommitments("ed", 1, 0); len(got) != 1 {
		t.Fatalf("a refused request consumed commitments: %+v", got)
	}
	retry := h.mustOK(fsm.SignRetry{RequestID: "s1", Attempt: 2, Committee: []string{"n2", "n3"}})
	if len(retry.Sign.Frost) != 0 {
		t.Fatal("a retry still names spent commitments")
	}
}

func TestFrostRefusals(t *testing.T) {
	h := frostFixture(t)
	h.mustOK(published("n1", "a1"))
	h.mustOK(published("n2", "b1"))
	h.mustOK(published("n3", "c1"))
	wrongSize := published("n1", "x")
	wrongSize.Commitments[0].Commitment = wrongSize.Commitments[0].Commitment[:95]
	otherLife := published("n1", "y")
	otherLife.Boot = "boot-old"
	otherEpoch := published("n1", "z")
	otherEpoch.Epoch = 1
	cases := []struct {
		name string
		cmd  fsm.Command
		want error
	}{
		{"id taken", published("n2", "a1"), fsm.ErrInvalidCommand},
		{"duplicate in batch", published("n2", "d", "d"), fsm.ErrInvalidCommand},
		{"wrong size", wrongSize, fsm.ErrInvalidCommand},
		{"other process life", otherLife, fsm.ErrStale},
		{"other epoch", otherEpoch, fsm.ErrStale},
		{"not a member", fsm.FrostCommitted{Key: "ed", Version: 1, Node: "n9", Boot: "b", Commitments: []fsm.FrostCommit{commitment("q")}}, fsm.ErrInvalidCommand},
		{"empty", published("n1"), fsm.ErrInvalidCommand},
		{"unknown", frostSign("s", 2, []string{"n1", "n2"}, "a1", "nope"), fsm.ErrFrostUnavailable},
		{"other member's", frostSign("s", 2, []string{"n1", "n2"}, "a1", "c1"), fsm.ErrFrostUnavailable},
		{"too few", frostSign("s", 2, []string{"n1", "n2"}, "a1"), fsm.ErrFrostUnavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { h.mustErr(c.cmd, c.want) })
	}
	if got := h.f.FrostCommitments("ed", 1, 0); len(got) != 3 {
		t.Fatalf("refused entries changed the table: %d commitments", len(got))
	}
}

// A member's unused commitments are bounded per key version; the table
// refuses the report that would pass the bound, whole.
func TestFrostCommitmentsAreBoundedPerMember(t *testing.T) {
	h := frostFixture(t)
	for b := 0; b < pool.MaxFrostPerMember/pool.MaxFrostBatch; b++ {
		var ids []string
		for i := range pool.MaxFrostBatch {
			ids = append(ids, fmt.Sprintf("n1-%d-%d", b, i))
		}
		h.mustOK(published("n1", ids...))
	}
	h.mustErr(published("n1", "one-more"), fsm.ErrTooManyFrost)
	h.mustOK(published("n2", "other-member")) // the bound is per member
	var big []string
	for i := range pool.MaxFrostBatch + 1 {
		big = append(big, fmt.Sprintf("big-%d", i))
	}
	h.mustErr(published("n3", big...), fsm.ErrInvalidCommand)
}

// A restart kills the member's commitments (its nonces died with the
// process); its later commitments are of the new life only.
func TestNodeBootedDiscardsItsFrostCommitments(t *testing.T) {
	h := frostFixture(t)
	h.mustOK(published("n1", "a1", "a2"))
	h.mustOK(published("n2", "b1"))
	h.mustOK(&fsm.NodeBooted{Node: "n1", Boot: "boot-n1-2", Protocol: fsm.ProtocolV2})
	got := h.f.FrostCommitments("ed", 1, 0)
	if len(got) != 1 || got[0].Node != "n2" {
		t.Fatalf("after n1 restarted: %+v", got)
	}
	h.mustErr(published("n1", "old-life"), fsm.ErrStale)
	h.mustErr(frostSign("s", 2, []string{"n1", "n2"}, "a1", "b1"), fsm.ErrFrostUnavailable)
	fresh := published("n1", "a3")
	fresh.Boot = "boot-n1-2"
	h.mustOK(fresh)
	h.mustOK(frostSign("s", 3, []string{"n1", "n2"}, "a3", "b1"))
}

// A refresh's switch to new shares drops commitments of the old epoch;
// retiring the version drops the rest.
func TestRefreshAndRetireDiscardFrostCommitments(t *testing.T) {
	h := frostFixture(t)
	h.mustOK(published("n1", "a1"))
	h.mustOK(fsm.ChangeKey{RequestID: "refresh", Op: fsm.OpRefresh, Key: "ed", Committee: []string{"n1", "n2"}, Time: 5})
	h.mustOK(published("n2", "b1")) // still epoch 0 until every member has its new share
	for _, n := range []string{"n1", "n2", "n3"} {
		h.mustOK(fsm.ShareRefreshed{Key: "ed", Version: 1, Epoch: 1, Node: n, PublicKey: fsmPub("ed")})
	}
	if got := h.f.FrostCommitments("ed", 1, 0); len(got) != 0 {
		t.Fatalf("epoch-0 commitments survived the refresh: %+v", got)
	}
	h.mustErr(published("n1", "old-epoch"), fsm.ErrStale)
	next := published("n1", "e1")
	next.Epoch = 1
	h.mustOK(next)
	h.mustOK(fsm.ChangeKey{RequestID: "rotate", Op: fsm.OpRotate, Key: "ed", Time: 6})
	for _, n := range []string{"n1", "n2", "n3"} {
		h.mustOK(fsm.ShareStored{Key: "ed", Version: 2, Node: n, PublicKey: []byte("pub-ed-2")})
	}
	h.mustOK(fsm.ChangeKey{RequestID: "promote", Op: fsm.OpPromote, Key: "ed", Version: 2, Time: 7})
	h.mustOK(fsm.ChangeKey{RequestID: "retire", Op: fsm.OpRetire, Key: "ed", Version: 1, Time: 8})
	if got := h.f.FrostCommitments("ed", 1, 1); len(got) != 0 {
		t.Fatalf("a retired version's commitments survived: %+v", got)
	}
}

// The table survives a snapshot and restore, and a restored replica
// refuses reuse the same way.
func TestFrostCommitmentsSurviveSnapshot(t *testing.T) {
	h := frostFixture(t)
	h.mustOK(published("n1", "a1", "a2"))
	h.mustOK(published("n2", "b1"))
	h.mustOK(frostSign("s1", 2, []string{"n1", "n2"}, "a1", "b1"))
	data := snapshotBytes(t, h.f)
	r := restoredFSM(t, h.cfg, data)
	got := r.FrostCommitments("ed", 1, 0)
	if len(got) != 1 || got[0].ID != "a2" || !bytes.Equal(got[0].Commitment, commitment("a2").Commitment) {
		t.Fatalf("restored table: %+v", got)
	}
	s, ok := r.Sign("s1")
	if !ok || len(s.Frost) != 2 {
		t.Fatalf("restored pending request lost its commitments: %+v", s)
	}
	if !bytes.Equal(snapshotBytes(t, r), data) {
		t.Fatal("a restored FSM snapshots differently")
	}
	// A snapshot naming a commitment of no key version is refused.
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["keys"]; !ok {
		t.Fatal("snapshot is not the state object")
	}
	raw["frost"] = json.RawMessage(`{"x":{"id":"x","key":"nokey","version":1}}`)
	bad, _ := json.Marshal(raw)
	fresh, err := fsm.NewFSM(h.cfg, fsmCrypto{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fresh.Restore(io.NopCloser(bytes.NewReader(bad))); err == nil {
		t.Fatal("restored a snapshot whose commitment names no key")
	}
}
