package tss_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"math/big"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	decredecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/keyquorum/keyquorum/tss"
)

func checkECDSA(t *testing.T, pub, digest, sig []byte) {
	t.Helper()
	pk, err := secp256k1.ParsePubKey(pub)
	if err != nil {
		t.Fatalf("public key: %v", err)
	}
	if len(pub) != 33 {
		t.Fatalf("public key is %d bytes, want 33 (compressed)", len(pub))
	}
	s, err := decredecdsa.ParseDERSignature(sig)
	if err != nil {
		t.Fatalf("signature is not strict DER: %v", err)
	}
	if ss := s.S(); ss.IsOverHalfOrder() {
		t.Fatal("signature has high s")
	}
	if !s.Verify(digest, pk) {
		t.Fatal("decred rejects the signature")
	}
	if !tss.Verify(tss.ECDSASecp256k1, pub, digest, sig) {
		t.Fatal("tss.Verify rejects the signature")
	}
	other := bytes.Clone(digest)
	other[31] ^= 1
	if tss.Verify(tss.ECDSASecp256k1, pub, other, sig) {
		t.Fatal("tss.Verify accepts the signature for another digest")
	}
}

func TestECDSASignEveryCommittee(t *testing.T) {
	f := sharedKey(t, tss.ECDSASecp256k1)
	pub := f.shares["node-a"].PublicKey()
	for _, id := range members {
		if !bytes.Equal(f.shares[id].PublicKey(), pub) {
			t.Fatalf("%s has a different public key", id)
		}
		if got := f.shares[id].Threshold(); got != 1 {
			t.Fatalf("threshold %d", got)
		}
	}
	for _, c := range committees {
		t.Run(c[0]+"+"+c[1], func(t *testing.T) {
			digest := randomBytes(t, 32)
			sig := mustSign(t, f, newSID(t), c, digest)
			checkECDSA(t, pub, digest, sig)
		})
	}
}

func TestECDSADigestWithLeadingZeros(t *testing.T) {
	f := sharedKey(t, tss.ECDSASecp256k1)
	digest := randomBytes(t, 32)
	digest[0], digest[1] = 0, 0
	sig := mustSign(t, f, newSID(t), committees[0], digest)
	checkECDSA(t, f.shares["node-a"].PublicKey(), digest, sig)
}

func TestECDSADigestAtOrAboveOrderRejected(t *testing.T) {
	f := sharedKey(t, tss.ECDSASecp256k1)
	n := secp256k1.S256().N
	for name, d := range map[string][]byte{
		"order":   n.FillBytes(make([]byte, 32)),
		"max":     bytes.Repeat([]byte{0xff}, 32),
		"short":   make([]byte, 31),
		"long":    make([]byte, 33),
		"order+1": new(big.Int).Add(n, big.NewInt(1)).FillBytes(make([]byte, 32)),
	} {
		_, err := f.engines["node-a"].Sign(context.Background(), tss.SignRequest{
			Session: newSID(t), Share: f.shares["node-a"], Committee: committees[0], Message: d})
		if !errors.Is(err, tss.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", name, err)
		}
	}
	if n := f.engines["node-a"].Running(); n != 0 {
		t.Fatalf("%d sessions left running", n)
	}
}

func TestEd25519KeygenAndSign(t *testing.T) {
	f := sharedKey(t, tss.Ed25519)
	pub := f.shares["node-b"].PublicKey()
	if len(pub) != ed25519.PublicKeySize {
		t.Fatalf("public key is %d bytes", len(pub))
	}
	msgs := map[string][]byte{
		"text":          []byte("keyquorum ed25519 test message"),
		"leading-zeros": append([]byte{0, 0, 0}, randomBytes(t, 40)...),
		"all-zero":      make([]byte, 5),
		"empty":         {},
		"max":           randomBytes(t, tss.DefaultConfig().MaxEd25519MessageBytes),
	}
	i := 0
	for name, msg := range msgs {
		c := committees[i%len(committees)]
		i++
		t.Run(name, func(t *testing.T) {
			sig := mustSign(t, f, newSID(t), c, msg)
			if !ed25519.Verify(pub, msg, sig) {
				t.Fatal("crypto/ed25519 rejects the signature")
			}
			if !tss.Verify(tss.Ed25519, pub, msg, sig) {
				t.Fatal("tss.Verify rejects the signature")
			}
			if tss.Verify(tss.Ed25519, pub, append(bytes.Clone(msg), 0), sig) {
				t.Fatal("signature verifies for another message")
			}
		})
	}
	_, err := f.engines["node-a"].Sign(context.Background(), tss.SignRequest{Session: newSID(t),
		Share: f.shares["node-a"], Committee: committees[0], Message: make([]byte, tss.DefaultConfig().MaxEd25519MessageBytes+1)})
	if !errors.Is(err, tss.ErrInvalidRequest) {
		t.Fatalf("oversized Ed25519 message: err = %v", err)
	}
}

func TestSignRequestValidation(t *testing.T) {
	f := sharedKey(t, tss.Ed25519)
	e := f.engines["node-a"]
	sh := f.shares["node-a"]
	cases := map[string]tss.SignRequest{
		"nil share":             {Share: nil, Committee: committees[0]},
		"other's share":         {Share: f.shares["node-b"], Committee: committees[0]},
		"committee too big":     {Share: sh, Committee: members},
		"committee too small":   {Share: sh, Committee: []string{"node-a"}},
		"self not in committee": {Share: sh, Committee: []string{"node-b", "node-c"}},
		"unknown member":        {Share: sh, Committee: []string{"node-a", "node-z"}},
		"duplicate member":      {Share: sh, Committee: []string{"node-a", "node-a"}},
	}
	for name, r := range cases {
		r.Session = newSID(t)
		if _, err := e.Sign(context.Background(), r); !errors.Is(err, tss.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", name, err)
		}
	}
}
