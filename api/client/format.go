package client

import (
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// Secp256k1Format names an encoding of a secp256k1 signature.
type Secp256k1Format string

// The encodings of a secp256k1 signature, as `kq sign --format` names them.
const (
	// FormatDER is ASN.1 DER, SEQUENCE { r, s }, as x509, JOSE's ES256K
	// after conversion, and Bitcoin (with a low s) take it. The cluster
	// returns this form.
	FormatDER Secp256k1Format = "der"
	// FormatRaw is r || s, 32 bytes each, big-endian (JOSE's ES256K, IEEE
	// P1363).
	FormatRaw Secp256k1Format = "raw"
	// FormatEth is r || s || v: the raw form and the recovery id v, 0 or 1,
	// that recovers the public key, as Ethereum transactions carry it.
	FormatEth Secp256k1Format = "eth"
)

// EncodeSecp256k1 checks der, a DER signature over the 32-byte digest,
// against pub and returns it in format f, always with s in the lower half
// of the order (BIP 62; Ethereum rejects a high s). For FormatEth, v is
// found by recovering the public key with both ids and keeping the one that
// gives pub.
func EncodeSecp256k1(pub *secp256k1.PublicKey, digest, der []byte, f Secp256k1Format) ([]byte, error) {
	if pub == nil {
		return nil, errors.New("keyquorum: no secp256k1 public key")
	}
	sig, err := secpecdsa.ParseDERSignature(der)
	if err != nil {
		return nil, fmt.Errorf("keyquorum: the cluster's signature: %w", err)
	}
	if !sig.Verify(digest, pub) {
		return nil, errors.New("keyquorum: the cluster's secp256k1 signature does not verify against the public key")
	}
	r, s := sig.R(), sig.S()
	if s.IsOverHalfOrder() {
		s.Negate()
	}
	switch f {
	case FormatDER:
		return secpecdsa.NewSignature(&r, &s).Serialize(), nil
	case FormatRaw, FormatEth:
	default:
		return nil, fmt.Errorf("keyquorum: signature format %q: want der, raw or eth", f)
	}
	out := make([]byte, 64, 65)
	r.PutBytesUnchecked(out[0:32])
	s.PutBytesUnchecked(out[32:64])
	if f == FormatRaw {
		return out, nil
	}
	// decred's compact form is the header byte 27 + v (+4: compressed
	// key), then r and s.
	compact := make([]byte, 65)
	copy(compact[1:], out)
	for v := byte(0); v < 2; v++ {
		compact[0] = 27 + 4 + v
		rec, _, err := secpecdsa.RecoverCompact(compact, digest)
		if err == nil && rec.IsEqual(pub) {
			return append(out, v), nil
		}
	}
	return nil, errors.New("keyquorum: neither recovery id recovers the public key")
}
