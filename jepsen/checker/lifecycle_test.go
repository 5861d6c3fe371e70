package checker

import (
	"crypto/ed25519"
	"encoding/hex"
	"math"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"

	"github.com/keyquorum/keyquorum/jepsen/model"
)

// twoVersions returns key "ed" with two Ed25519 versions, v2 primary, as a
// read reports it, and the private keys of both.
func twoVersions(t *testing.T) (v1, v2 ed25519.PrivateKey, view model.KeyView) {
	t.Helper()
	v1, a := edKey(t)
	v2, b := edKey(t)
	view = model.KeyView{Name: "ed", State: model.Active, PublicKey: b.PublicKey, Primary: 2, Algorithm: "ed25519", PEM: b.PEM,
		Versions: []model.VersionView{
			{Number: 1, State: model.Active, PublicKey: a.PublicKey, PEM: a.PEM},
			{Number: 2, State: model.Active, PublicKey: b.PublicKey, PEM: b.PEM},
		}}
	return v1, v2, view
}

func signedBy(priv ed25519.PrivateKey, msg string, rid string, version uint32) porcupine.Operation {
	return op(2, 3, model.Input{Kind: model.Sign, Key: "ed", Digest: hex.EncodeToString([]byte(msg)), RequestID: rid},
		model.Output{Status: model.OK, Signature: hex.EncodeToString(ed25519.Sign(priv, []byte(msg))), Version: version})
}

func TestSignaturesVerifyUnderTheReportedVersion(t *testing.T) {
	v1, v2, view := twoVersions(t)
	read := op(10, 11, model.Input{Kind: model.Get, Key: "ed"}, model.Output{Status: model.OK, Key: view})
	good := []porcupine.Operation{read, signedBy(v1, "a", "s1", 1), signedBy(v2, "b", "s2", 2)}
	if c := Signatures(good); c.Verdict != Valid || c.Checked != 2 {
		t.Fatalf("each signature by its version: %s", c)
	}
	misreported := []porcupine.Operation{read, signedBy(v2, "b", "s2", 1)}
	if c := Signatures(misreported); c.Verdict != Invalid || !strings.Contains(c.Details[0], "ed v1") {
		t.Fatalf("v2's signature reported as v1's: %s", c)
	}
	unknown := []porcupine.Operation{read, signedBy(v2, "b", "s2", 3)}
	if c := Signatures(unknown); c.Verdict != Inconclusive {
		t.Fatalf("a version never reported: %s", c)
	}
	other := view
	other.Versions = []model.VersionView{view.Versions[1], view.Versions[1]}
	other.Versions[0].Number = 1
	twice := []porcupine.Operation{read, op(12, 13, model.Input{Kind: model.Get, Key: "ed"}, model.Output{Status: model.OK, Key: other})}
	if c := Signatures(twice); c.Verdict != Invalid {
		t.Fatalf("v1 reported with two public keys: %s", c)
	}
}

func TestDurableKeepsVersionsAndRevocations(t *testing.T) {
	vs := func(second model.KeyState, pub2 string) model.KeyView {
		return model.KeyView{Name: "k", State: model.Active, PublicKey: "P1", Primary: 1, Versions: []model.VersionView{
			{Number: 1, State: model.Active, PublicKey: "P1"}, {Number: 2, State: second, PublicKey: pub2}}}
	}
	base := []porcupine.Operation{
		op(0, 1, model.Input{Kind: model.Create, Key: "k", RequestID: "c"}, model.Output{Status: model.OK,
			Key: model.KeyView{Name: "k", State: model.Active, PublicKey: "P1"}}),
		op(2, 3, model.Input{Kind: model.Rotate, Key: "k", RequestID: "r"}, model.Output{Status: model.OK, Key: vs(model.Staged, "P2")}),
		op(4, 5, model.Input{Kind: model.Revoke, Key: "k", Version: 2, RequestID: "v"}, model.Output{Status: model.OK, Key: vs(model.Revoked, "P2")}),
	}
	final := func(v model.KeyView) []porcupine.Operation {
		return append(append([]porcupine.Operation(nil), base...),
			op(10, 11, model.Input{Kind: model.Get, Key: "k"}, model.Output{Status: model.OK, Key: v}))
	}
	if c := Durable(final(vs(model.Revoked, "P2")), 10); c.Verdict != Valid || c.Checked != 3 {
		t.Fatalf("intact: %s", c)
	}
	if c := Durable(final(vs(model.Staged, "P2")), 10); c.Verdict != Invalid {
		t.Fatalf("revocation lost: %s", c)
	}
	if c := Durable(final(vs(model.Revoked, "Q2")), 10); c.Verdict != Invalid {
		t.Fatalf("v2's public key changed: %s", c)
	}
	retired := vs(model.Revoked, "P2")
	retired.State, retired.Versions[0].State = model.Retired, model.Retired
	if c := Durable(final(retired), 10); c.Verdict != Valid {
		t.Fatalf("a changed key may end retired: %s", c)
	}
}

func TestPrepareBoundsUnknownLifecycleChanges(t *testing.T) {
	unknown := model.Output{Status: model.Unknown}
	rotated := model.KeyView{Name: "k", State: model.Active, PublicKey: "P1", Primary: 1, Versions: []model.VersionView{
		{Number: 1, State: model.Active, PublicKey: "P1"}, {Number: 2, State: model.Staged, PublicKey: "P2"}}}
	hist := []porcupine.Operation{
		op(0, 1, model.Input{Kind: model.Create, Key: "k", RequestID: "c"}, model.Output{Status: model.OK,
			Key: model.KeyView{Name: "k", State: model.Active, PublicKey: "P1"}}),
		op(2, math.MaxInt64, model.Input{Kind: model.Rotate, Key: "k", RequestID: "r"}, unknown),
		op(3, math.MaxInt64, model.Input{Kind: model.IssueHandle, Key: "k", RequestID: "h"}, unknown),
		op(4, math.MaxInt64, model.Input{Kind: model.Sign, Key: "k", Digest: "d", RequestID: "refused"}, unknown),
		op(5, math.MaxInt64, model.Input{Kind: model.Sign, Key: "k", Digest: "d", RequestID: "refused"}, unknown),
		op(6, 8, model.Input{Kind: model.Rotate, Key: "k", RequestID: "r"}, model.Output{Status: model.OK, Key: rotated}),
	}
	got := Prepare(hist)
	// create split in two, the unknown rotate, the acknowledged one split
	// in two; the handle and the refused signs dropped.
	if len(got) != 5 {
		t.Fatalf("%d operations after Prepare, want 5", len(got))
	}
	if in := got[2].Input.(model.Input); in.Kind != model.Rotate || got[2].Return != 8 {
		t.Fatalf("unknown rotate %v returns at %d, want 8 (when its retry was acknowledged)", in, got[2].Return)
	}
	if !porcupine.CheckOperations(model.Keys(), got) {
		t.Fatal("prepared history not linearizable")
	}
}
