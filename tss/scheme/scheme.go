// Package scheme names the signature schemes keyquorum signs with and
// holds what is fixed by the scheme alone, outside any protocol run: how a
// group public key is encoded (point bytes, PEM) and how a signature is
// verified.
package scheme

import "fmt"

// Algorithm names a signature scheme.
type Algorithm uint8

const (
	// ECDSASecp256k1 is ECDSA over secp256k1 (GG18/GG20 in tss-lib).
	ECDSASecp256k1 Algorithm = 1
	// Ed25519 is threshold EdDSA producing RFC 8032 Ed25519 signatures.
	Ed25519 Algorithm = 2
)

// ECDSADigestLen is the only accepted ECDSA message length: a 32-byte digest.
const ECDSADigestLen = 32

func (a Algorithm) String() string {
	switch a {
	case ECDSASecp256k1:
		return "ecdsa-secp256k1"
	case Ed25519:
		return "ed25519"
	}
	return fmt.Sprintf("algorithm(%d)", uint8(a))
}

// Valid reports whether a is a known algorithm.
func (a Algorithm) Valid() bool { return a == ECDSASecp256k1 || a == Ed25519 }

// ParseAlgorithm parses the String form of an Algorithm.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch s {
	case "ecdsa-secp256k1":
		return ECDSASecp256k1, nil
	case "ed25519":
		return Ed25519, nil
	}
	return 0, fmt.Errorf("tss: unknown algorithm %q", s)
}
