package scheme

import (
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSecp256k1   = asn1.ObjectIdentifier{1, 3, 132, 0, 10}
	oidEd25519     = asn1.ObjectIdentifier{1, 3, 101, 112}
)

const pemType = "PUBLIC KEY"

// subjectPublicKeyInfo is RFC 5280's SubjectPublicKeyInfo.
type subjectPublicKeyInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

// PublicKeyPEM encodes pub as a SubjectPublicKeyInfo PEM block ("PUBLIC
// KEY"). Ed25519 uses x509.MarshalPKIXPublicKey. secp256k1, which Go's x509
// does not know, is built by hand: id-ecPublicKey with the namedCurve
// 1.3.132.0.10 and the uncompressed point, which `openssl pkey -pubin` reads.
func PublicKeyPEM(alg Algorithm, pub []byte) (string, error) {
	var der []byte
	switch alg {
	case Ed25519:
		if len(pub) != ed25519.PublicKeySize {
			return "", fmt.Errorf("tss: Ed25519 public key is %d bytes", len(pub))
		}
		b, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(pub))
		if err != nil {
			return "", fmt.Errorf("tss: encode public key: %w", err)
		}
		der = b
	case ECDSASecp256k1:
		pk, err := secp256k1.ParsePubKey(pub)
		if err != nil {
			return "", fmt.Errorf("tss: secp256k1 public key: %w", err)
		}
		params, err := asn1.Marshal(oidSecp256k1)
		if err != nil {
			return "", fmt.Errorf("tss: encode public key: %w", err)
		}
		point := pk.SerializeUncompressed()
		der, err = asn1.Marshal(subjectPublicKeyInfo{
			Algorithm: pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey, Parameters: asn1.RawValue{FullBytes: params}},
			PublicKey: asn1.BitString{Bytes: point, BitLength: 8 * len(point)},
		})
		if err != nil {
			return "", fmt.Errorf("tss: encode public key: %w", err)
		}
	default:
		return "", fmt.Errorf("tss: unknown algorithm %d", alg)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der})), nil
}

// ParsePublicKeyPEM parses a PEM from PublicKeyPEM (or any equivalent SPKI
// encoding of an Ed25519 or secp256k1 key) and returns the algorithm and the
// key in PublicKey's encoding (32 bytes, or 33-byte compressed).
func ParsePublicKeyPEM(s string) (Algorithm, []byte, error) {
	block, rest := pem.Decode([]byte(s))
	if block == nil || block.Type != pemType {
		return 0, nil, errors.New("tss: no PUBLIC KEY PEM block")
	}
	if len(bytesTrim(rest)) != 0 {
		return 0, nil, errors.New("tss: trailing data after PEM block")
	}
	var spki subjectPublicKeyInfo
	tail, err := asn1.Unmarshal(block.Bytes, &spki)
	if err != nil || len(tail) != 0 {
		return 0, nil, errors.New("tss: malformed SubjectPublicKeyInfo")
	}
	switch {
	case spki.Algorithm.Algorithm.Equal(oidEd25519):
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return 0, nil, fmt.Errorf("tss: Ed25519 public key: %w", err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return 0, nil, errors.New("tss: not an Ed25519 key")
		}
		return Ed25519, []byte(ek), nil
	case spki.Algorithm.Algorithm.Equal(oidECPublicKey):
		var curve asn1.ObjectIdentifier
		if t, err := asn1.Unmarshal(spki.Algorithm.Parameters.FullBytes, &curve); err != nil || len(t) != 0 || !curve.Equal(oidSecp256k1) {
			return 0, nil, errors.New("tss: EC key is not on secp256k1")
		}
		if spki.PublicKey.BitLength != 8*len(spki.PublicKey.Bytes) {
			return 0, nil, errors.New("tss: malformed EC point")
		}
		pk, err := secp256k1.ParsePubKey(spki.PublicKey.Bytes)
		if err != nil {
			return 0, nil, fmt.Errorf("tss: secp256k1 public key: %w", err)
		}
		return ECDSASecp256k1, pk.SerializeCompressed(), nil
	}
	return 0, nil, fmt.Errorf("tss: unsupported key algorithm %v", spki.Algorithm.Algorithm)
}

func bytesTrim(b []byte) []byte {
	for len(b) > 0 && (b[0] == '\n' || b[0] == '\r' || b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}
