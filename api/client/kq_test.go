package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// TestKQSignFormatsOverRealNodes runs the kq binary, this package's first
// user, against the real cluster: each --format it prints verifies (DER
// and raw under decred's verifier, eth by recovering the key's public key,
// Ed25519's raw under crypto/ed25519).
func TestKQSignFormatsOverRealNodes(t *testing.T) {
	testCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sign := func(key, format string, digest []byte) []byte {
		t.Helper()
		out, err := shared.c.KQ(ctx, "-o", "json", "sign", key, "--digest", hex.EncodeToString(digest), "--format", format)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			SignatureHex string `json:"signature_hex"`
			Format       string `json:"format"`
		}
		if err := json.Unmarshal(out, &v); err != nil || v.Format != format {
			t.Fatalf("%s --format %s: %v in %s", key, format, err, out)
		}
		sig, err := hex.DecodeString(v.SignatureHex)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	pub, err := secp256k1.ParsePubKey(shared.ec.GetPublicKey())
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("kq sign --format"))

	der := sign("ec", "der", digest[:])
	if sig, err := secpecdsa.ParseDERSignature(der); err != nil || !sig.Verify(digest[:], pub) {
		t.Errorf("der %x does not verify: %v", der, err)
	}
	raw := sign("ec", "raw", digest[:])
	var r, s secp256k1.ModNScalar
	if len(raw) != 64 || r.SetByteSlice(raw[:32]) || s.SetByteSlice(raw[32:]) || s.IsOverHalfOrder() ||
		!secpecdsa.NewSignature(&r, &s).Verify(digest[:], pub) {
		t.Errorf("raw %x does not verify with a low s", raw)
	}
	eth := sign("ec", "eth", digest[:])
	if len(eth) != 65 || eth[64] > 1 {
		t.Fatalf("eth %x", eth)
	}
	rec, _, err := secpecdsa.RecoverCompact(append([]byte{27 + 4 + eth[64]}, eth[:64]...), digest[:])
	if err != nil || !rec.IsEqual(pub) {
		t.Errorf("eth v=%d recovers another key (%v)", eth[64], err)
	}

	msg := []byte("an Ed25519 message")
	if sig := sign("ed", "raw", msg); !ed25519.Verify(shared.ed.GetPublicKey(), msg, sig) {
		t.Errorf("ed25519 raw %x does not verify", sig)
	}
}
