package main

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
)

// secpKey gives k a real secp256k1 key. Called with f locked.
func (f *fakeNode) secpKey(k *kqpb.Key) {
	priv, _ := secp256k1.GeneratePrivateKey()
	if f.secp == nil {
		f.secp = map[string]*secp256k1.PrivateKey{}
	}
	f.secp[k.Name] = priv
	k.PublicKey = priv.PubKey().SerializeCompressed()
	k.Versions[0].PublicKey = k.PublicKey
}

// secpSign signs as a careless node might: DER with the high s, which kq
// --format must bring low. Called with f locked.
func (f *fakeNode) secpSign(key string, digest []byte) []byte {
	sig := secpecdsa.Sign(f.secp[key], digest)
	r, s := sig.R(), sig.S()
	s.Negate()
	rb, sb := r.Bytes(), s.Bytes()
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(new(big.Int).SetBytes(rb[:]))
		b.AddASN1BigInt(new(big.Int).SetBytes(sb[:]))
	})
	return b.BytesOrPanic()
}

func TestSignFormats(t *testing.T) {
	tc := startCluster(t)
	if _, errOut, code := tc.kq(t, "key", "create", "btc", "--algorithm", "ecdsa-secp256k1"); code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	if _, errOut, code := tc.kq(t, "key", "create", "ed", "--algorithm", "ed25519"); code != 0 {
		t.Fatalf("create: %s", errOut)
	}
	pub, err := secp256k1.ParsePubKey(tc.leader.keys["btc"].PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	digest := bytes.Repeat([]byte{0xab}, 32)
	sign := func(format string) (render.SignView, map[string]any) {
		t.Helper()
		args := []string{"-o", "json", "sign", "btc", "--digest", hex.EncodeToString(digest)}
		if format != "" {
			args = append(args, "--format", format)
		}
		out, errOut, code := tc.kq(t, args...)
		if code != 0 {
			t.Fatalf("--format %q: exit %d: %s", format, code, errOut)
		}
		return decode[render.SignView](t, out), decode[map[string]any](t, out)
	}
	// No --format: the node's DER as it is (high s), and no format field,
	// as before the flag existed.
	v, m := sign("")
	if _, ok := m["format"]; ok {
		t.Errorf("format field without --format: %v", m)
	}
	der, _ := hex.DecodeString(v.SignatureHex)
	if _, err := secpecdsa.ParseDERSignature(der); err != nil {
		t.Fatalf("default: %v", err)
	}

	v, _ = sign("der")
	low, _ := hex.DecodeString(v.SignatureHex)
	sig, err := secpecdsa.ParseDERSignature(low)
	if s := sig.S(); err != nil || v.Format != "der" || s.IsOverHalfOrder() || !sig.Verify(digest, pub) || v.Signatures[0].SignatureHex != v.SignatureHex {
		t.Fatalf("der: %+v (%v)", v, err)
	}
	v, _ = sign("raw")
	raw, _ := hex.DecodeString(v.SignatureHex)
	r, s := sig.R(), sig.S()
	rb, sb := r.Bytes(), s.Bytes()
	if v.Format != "raw" || !bytes.Equal(raw, append(rb[:], sb[:]...)) {
		t.Fatalf("raw: %x, want r||s of %x", raw, low)
	}
	v, _ = sign("eth")
	eth, _ := hex.DecodeString(v.SignatureHex)
	if v.Format != "eth" || len(eth) != 65 || !bytes.Equal(eth[:64], raw) || eth[64] > 1 {
		t.Fatalf("eth: %x", eth)
	}
	if rec, _, err := secpecdsa.RecoverCompact(append([]byte{27 + 4 + eth[64]}, eth[:64]...), digest); err != nil || !rec.IsEqual(pub) {
		t.Fatalf("eth v=%d does not recover the key (%v)", eth[64], err)
	}

	// Ed25519 has one encoding: der and eth are refused before signing.
	before := lastRequest[*kqpb.SignRequest](t, tc.leader, "Sign")
	for _, f := range []string{"der", "eth"} {
		if _, errOut, code := tc.kq(t, "sign", "ed", "--digest", "00", "--format", f); code != 2 || !bytes.Contains([]byte(errOut), []byte("Ed25519")) {
			t.Errorf("ed25519 --format %s: exit %d: %q", f, code, errOut)
		}
	}
	if lastRequest[*kqpb.SignRequest](t, tc.leader, "Sign") != before {
		t.Error("a refused --format still signed")
	}
	if out, errOut, code := tc.kq(t, "-o", "json", "sign", "ed", "--digest", "00", "--format", "raw"); code != 0 || decode[render.SignView](t, out).Format != "raw" {
		t.Errorf("ed25519 raw: exit %d: %s%s", code, out, errOut)
	}
	if _, _, code := tc.kq(t, "sign", "btc", "--digest", "00", "--format", "base58"); code != 2 {
		t.Errorf("unknown format: exit %d", code)
	}
}
