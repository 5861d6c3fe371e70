package client_test

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/keyquorum/keyquorum/api/client"
)

// Every format carries the same low-s signature: raw is DER's r and s, eth
// adds the id that recovers the key, and a high s from the cluster comes out
// low in all three.
func TestEncodeSecp256k1(t *testing.T) {
	for i := range 32 {
		priv, _ := secp256k1.GeneratePrivateKey()
		pub := priv.PubKey()
		digest := sha256.Sum256(fmt.Appendf(nil, "message %d", i))
		sig := secpecdsa.Sign(priv, digest[:])
		der := sig.Serialize()
		if i%2 == 1 {
			der = highSDER(sig)
		}
		low, err := client.EncodeSecp256k1(pub, digest[:], der, client.FormatDER)
		if err != nil || !bytes.Equal(low, sig.Serialize()) {
			t.Fatalf("der: %x, %v; want %x", low, err, sig.Serialize())
		}
		raw, err := client.EncodeSecp256k1(pub, digest[:], der, client.FormatRaw)
		r, s := sig.R(), sig.S()
		rb, sb := r.Bytes(), s.Bytes()
		if err != nil || !bytes.Equal(raw, append(rb[:], sb[:]...)) {
			t.Fatalf("raw: %x, %v", raw, err)
		}
		eth, err := client.EncodeSecp256k1(pub, digest[:], der, client.FormatEth)
		if err != nil || len(eth) != 65 || !bytes.Equal(eth[:64], raw) || eth[64] > 1 {
			t.Fatalf("eth: %x, %v", eth, err)
		}
		compact := append([]byte{27 + 4 + eth[64]}, raw...)
		if rec, _, err := secpecdsa.RecoverCompact(compact, digest[:]); err != nil || !rec.IsEqual(pub) {
			t.Fatalf("v=%d does not recover the key: %v", eth[64], err)
		}
	}
}

func TestEncodeSecp256k1Refuses(t *testing.T) {
	priv, _ := secp256k1.GeneratePrivateKey()
	other, _ := secp256k1.GeneratePrivateKey()
	digest := sha256.Sum256([]byte("m"))
	der := secpecdsa.Sign(priv, digest[:]).Serialize()
	for name, call := range map[string]func() ([]byte, error){
		"another key": func() ([]byte, error) {
			return client.EncodeSecp256k1(other.PubKey(), digest[:], der, client.FormatEth)
		},
		"another digest": func() ([]byte, error) {
			return client.EncodeSecp256k1(priv.PubKey(), make([]byte, 32), der, client.FormatRaw)
		},
		"not DER": func() ([]byte, error) {
			return client.EncodeSecp256k1(priv.PubKey(), digest[:], der[1:], client.FormatDER)
		},
		"unknown format": func() ([]byte, error) { return client.EncodeSecp256k1(priv.PubKey(), digest[:], der, "base58") },
		"no key":         func() ([]byte, error) { return client.EncodeSecp256k1(nil, digest[:], der, client.FormatDER) },
	} {
		if out, err := call(); err == nil {
			t.Errorf("%s: accepted, returned %x", name, out)
		}
	}
}
