package checker

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"math"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/keyquorum/keyquorum/jepsen/model"
)

func op(call, ret int64, in model.Input, out model.Output) porcupine.Operation {
	return porcupine.Operation{Call: call, Return: ret, Input: in, Output: out}
}

func edKey(t *testing.T) (ed25519.PrivateKey, model.KeyView) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	return priv, model.KeyView{Name: "ed", State: model.Active, PublicKey: hex.EncodeToString(pub), Algorithm: "ed25519", PEM: pemText}
}

// secpKey returns a key whose PEM ends with the uncompressed point, as an
// SPKI for secp256k1 does.
func secpKey(t *testing.T) (*secp256k1.PrivateKey, model.KeyView) {
	t.Helper()
	priv, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	spki := append([]byte("spki-header"), priv.PubKey().SerializeUncompressed()...)
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	return priv, model.KeyView{Name: "ec", State: model.Active, PublicKey: hex.EncodeToString(priv.PubKey().SerializeCompressed()),
		Algorithm: "ecdsa-secp256k1", PEM: pemText}
}

func TestSignaturesVerifyAndCatchForgeries(t *testing.T) {
	edPriv, ed := edKey(t)
	ecPriv, ec := secpKey(t)
	msg := []byte("message")
	digest := make([]byte, 32)
	digest[5] = 7
	good := []porcupine.Operation{
		op(0, 1, model.Input{Kind: model.Get, Key: "ed"}, model.Output{Status: model.OK, Key: ed}),
		op(0, 1, model.Input{Kind: model.Get, Key: "ec"}, model.Output{Status: model.OK, Key: ec}),
		op(2, 3, model.Input{Kind: model.Sign, Key: "ed", Digest: hex.EncodeToString(msg), RequestID: "a"},
			model.Output{Status: model.OK, Signature: hex.EncodeToString(ed25519.Sign(edPriv, msg)), Version: 1}),
		op(2, 3, model.Input{Kind: model.Sign, Key: "ec", Digest: hex.EncodeToString(digest), RequestID: "b"},
			model.Output{Status: model.OK, Signature: hex.EncodeToString(ecdsa.Sign(ecPriv, digest).Serialize()), Version: 1}),
	}
	if c := Signatures(good); c.Verdict != Valid || c.Checked != 2 {
		t.Fatalf("good signatures: %s", c)
	}
	forged := append(good, op(4, 5, model.Input{Kind: model.Sign, Key: "ed", Digest: hex.EncodeToString([]byte("other")), RequestID: "c"},
		model.Output{Status: model.OK, Signature: hex.EncodeToString(ed25519.Sign(edPriv, msg)), Version: 1}))
	if c := Signatures(forged); c.Verdict != Invalid {
		t.Fatalf("signature over another message: %s", c)
	}
}

func TestNonceReuseIsCaught(t *testing.T) {
	priv, _ := secpKey(t)
	d1, d2 := make([]byte, 32), make([]byte, 32)
	d2[0] = 1
	s1 := ecdsa.Sign(priv, d1)
	// Same r, another s: what a reused nonce looks like.
	r, sv := s1.R(), s1.S()
	sv.Add(new(secp256k1.ModNScalar).SetInt(1))
	s2 := ecdsa.NewSignature(&r, &sv)
	hist := []porcupine.Operation{
		op(0, 1, model.Input{Kind: model.Sign, Key: "ec", RequestID: "a"}, model.Output{Status: model.OK, Signature: hex.EncodeToString(s1.Serialize())}),
		op(0, 1, model.Input{Kind: model.Sign, Key: "ec", RequestID: "a"}, model.Output{Status: model.OK, Signature: hex.EncodeToString(s1.Serialize())}),
	}
	if c := NonceReuse(hist); c.Verdict != Valid {
		t.Fatalf("the same signature twice for one request: %s", c)
	}
	hist = append(hist, op(2, 3, model.Input{Kind: model.Sign, Key: "ec", RequestID: "b"}, model.Output{Status: model.OK, Signature: hex.EncodeToString(s2.Serialize())}))
	if c := NonceReuse(hist); c.Verdict != Invalid {
		t.Fatalf("two signatures sharing r: %s", c)
	}
}

func TestDurableNeedsFinalReadsToAgree(t *testing.T) {
	key := model.KeyView{Name: "k", State: model.Active, PublicKey: "P"}
	base := []porcupine.Operation{
		op(0, 1, model.Input{Kind: model.Create, Key: "k", RequestID: "c"}, model.Output{Status: model.OK, Key: key}),
		op(2, 3, model.Input{Kind: model.Sign, Key: "k", Digest: "d", RequestID: "s"}, model.Output{Status: model.OK, Signature: "S"}),
	}
	final := func(sig string, get model.Status) []porcupine.Operation {
		return append(append([]porcupine.Operation(nil), base...),
			op(10, 11, model.Input{Kind: model.Get, Key: "k"}, model.Output{Status: get, Key: key}),
			op(12, 13, model.Input{Kind: model.Sign, Key: "k", Digest: "d", RequestID: "s"}, model.Output{Status: model.OK, Signature: sig}))
	}
	if c := Durable(final("S", model.OK), 10); c.Verdict != Valid || c.Checked != 3 {
		t.Fatalf("intact: %s", c)
	}
	if c := Durable(final("S2", model.OK), 10); c.Verdict != Invalid {
		t.Fatalf("signed again: %s", c)
	}
	if c := Durable(final("S", model.NotFound), 10); c.Verdict != Invalid {
		t.Fatalf("key lost: %s", c)
	}
	if c := Durable(base, 10); c.Verdict != Inconclusive {
		t.Fatalf("no final reads: %s", c)
	}
}

func TestPrepareBoundsUnknownOutcomes(t *testing.T) {
	unknown := model.Output{Status: model.Unknown}
	hist := []porcupine.Operation{
		op(0, math.MaxInt64, model.Input{Kind: model.Create, Key: "k", RequestID: "c"}, unknown),
		op(1, math.MaxInt64, model.Input{Kind: model.Get, Key: "k"}, unknown),
		op(2, math.MaxInt64, model.Input{Kind: model.Sign, Key: "k", Digest: "d", RequestID: "lonely"}, unknown),
		op(3, math.MaxInt64, model.Input{Kind: model.Sign, Key: "k", Digest: "d", RequestID: "s"}, unknown),
		op(5, 6, model.Input{Kind: model.Get, Key: "k"}, model.Output{Status: model.OK, Key: model.KeyView{Name: "k", State: model.Generating}}),
		op(7, 9, model.Input{Kind: model.Sign, Key: "k", Digest: "d", RequestID: "s"}, model.Output{Status: model.OK, Signature: "S", Version: 1}),
	}
	got := Prepare(hist)
	if len(got) != 4 {
		t.Fatalf("%d operations after Prepare, want 4 (unknown get and lonely sign dropped)", len(got))
	}
	if got[0].Return != 6 {
		t.Fatalf("unknown create returns at %d, want 6 (when a get saw the key)", got[0].Return)
	}
	if got[1].Return != 9 {
		t.Fatalf("unknown sign returns at %d, want 9 (when its retry got the signature)", got[1].Return)
	}
	if !porcupine.CheckOperations(model.Keys(), got) {
		t.Fatal("prepared history not linearizable")
	}
}
