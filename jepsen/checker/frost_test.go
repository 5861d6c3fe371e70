package checker

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"testing"

	"github.com/anishathalye/porcupine"

	"github.com/keyquorum/keyquorum/jepsen/model"
	"github.com/keyquorum/keyquorum/tss/frost"
	"github.com/keyquorum/keyquorum/tss/frost/frosttest"
)

// frostKey is a dealt 2-of-3 FROST key as a history reports it.
type frostKey struct {
	t     *testing.T
	dealt *frosttest.Dealt
	view  model.KeyView
}

func newFrostKey(t *testing.T) *frostKey {
	t.Helper()
	d, err := frosttest.Deal(rand.Reader, 2, frosttest.SmallIDs(3))
	if err != nil {
		t.Fatal(err)
	}
	pub := d.Group.PublicKey()
	der, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(pub))
	if err != nil {
		t.Fatal(err)
	}
	pemText := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	return &frostKey{t: t, dealt: d, view: model.KeyView{Name: "ed", State: model.Active, PublicKey: hex.EncodeToString(pub),
		Algorithm: "ed25519", PEM: pemText}}
}

// sign signs msg with shares 0 and 2, drawing each signer's nonces from
// its reader, and returns the Sign operation a client would record.
func (k *frostKey) sign(rid string, msg []byte, rands [2]io.Reader) porcupine.Operation {
	k.t.Helper()
	signers := []int{0, 2}
	var nonces []frost.Nonces
	var list []frost.Commitment
	for i, s := range signers {
		n, c, err := frost.Commit(k.dealt.Shares[s], rands[i])
		if err != nil {
			k.t.Fatal(err)
		}
		nonces, list = append(nonces, n), append(list, c)
	}
	var shares []frost.SignatureShare
	for i, s := range signers {
		sh, err := frost.Sign(k.dealt.Shares[s], nonces[i], msg, list)
		if err != nil {
			k.t.Fatal(err)
		}
		shares = append(shares, sh)
	}
	sig, err := k.dealt.Group.Aggregate(msg, list, shares)
	if err != nil {
		k.t.Fatal(err)
	}
	out := model.Output{Status: model.OK, Signature: hex.EncodeToString(sig), Version: 1}
	for _, c := range list {
		b, _ := c.MarshalBinary()
		out.Frost = append(out.Frost, hex.EncodeToString(b))
	}
	return op(2, 3, model.Input{Kind: model.Sign, Key: "ed", Digest: hex.EncodeToString(msg), RequestID: rid}, out)
}

// fixed is the reader of a member that draws the same nonce pair every
// time, as the frost-nonce-reuse bug does.
func fixed() io.Reader { return bytes.NewReader(bytes.Repeat([]byte{0x42}, 64)) }

func TestFrostCommitmentsCatchAReusedNonce(t *testing.T) {
	k := newFrostKey(t)
	get := op(0, 1, model.Input{Kind: model.Get, Key: "ed"}, model.Output{Status: model.OK, Key: k.view})
	a := k.sign("a", []byte("first"), [2]io.Reader{rand.Reader, rand.Reader})
	b := k.sign("b", []byte("second"), [2]io.Reader{rand.Reader, rand.Reader})
	good := []porcupine.Operation{get, a, b, a} // a's answer twice: a retried request id
	if c := FrostCommitments(good); c.Verdict != Valid || c.Checked != 3 {
		t.Fatalf("fresh commitments: %s", c)
	}
	// One member with fixed nonces: two valid signatures, distinct R,
	// one commitment in both. Only this check sees it.
	r1 := k.sign("r1", []byte("first"), [2]io.Reader{fixed(), rand.Reader})
	r2 := k.sign("r2", []byte("second"), [2]io.Reader{fixed(), rand.Reader})
	reused := []porcupine.Operation{get, r1, r2}
	if c := Signatures(reused); c.Verdict != Valid {
		t.Fatalf("the reused-nonce signatures should verify: %s", c)
	}
	if c := NonceReuse(reused); c.Verdict != Valid {
		t.Fatalf("R differs, so the R check cannot see the reuse: %s", c)
	}
	if c := FrostCommitments(reused); c.Verdict != Invalid {
		t.Fatalf("a commitment used by two requests: %s", c)
	}
}

func TestFrostCommitmentsMustMakeTheSignaturesR(t *testing.T) {
	k := newFrostKey(t)
	get := op(0, 1, model.Input{Kind: model.Get, Key: "ed"}, model.Output{Status: model.OK, Key: k.view})
	a := k.sign("a", []byte("first"), [2]io.Reader{rand.Reader, rand.Reader})
	b := k.sign("b", []byte("second"), [2]io.Reader{rand.Reader, rand.Reader})
	// a reports b's commitments: fresh, well formed, but not what signed.
	lie := a
	out := lie.Output.(model.Output)
	out.Frost = b.Output.(model.Output).Frost
	lie.Output = out
	if c := FrostCommitments([]porcupine.Operation{get, lie}); c.Verdict != Invalid {
		t.Fatalf("commitments that do not make R: %s", c)
	}
	bad := a
	out = bad.Output.(model.Output)
	out.Frost = []string{out.Frost[0], "00"}
	bad.Output = out
	if c := FrostCommitments([]porcupine.Operation{get, bad}); c.Verdict != Invalid {
		t.Fatalf("a commitment that does not decode: %s", c)
	}
}

// Ed25519 signatures that share R give the key away too; NonceReuse
// compares R as it compares ECDSA's r.
func TestNonceReuseComparesEd25519R(t *testing.T) {
	priv, view := edKey(t)
	get := op(0, 1, model.Input{Kind: model.Get, Key: "ed"}, model.Output{Status: model.OK, Key: view})
	sig := ed25519.Sign(priv, []byte("m"))
	other := append(bytes.Clone(sig[:32]), bytes.Repeat([]byte{1}, 32)...)
	sign := func(rid string, s []byte) porcupine.Operation {
		return op(2, 3, model.Input{Kind: model.Sign, Key: "ed", RequestID: rid}, model.Output{Status: model.OK, Signature: hex.EncodeToString(s), Version: 1})
	}
	if c := NonceReuse([]porcupine.Operation{get, sign("a", sig), sign("a", sig)}); c.Verdict != Valid || c.Checked != 2 {
		t.Fatalf("one signature twice: %s", c)
	}
	if c := NonceReuse([]porcupine.Operation{get, sign("a", sig), sign("b", other)}); c.Verdict != Invalid {
		t.Fatalf("two signatures sharing R: %s", c)
	}
}
