package scheme

import (
	"crypto/ed25519"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	decredecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// Verify reports whether sig is a valid signature of message under pub.
// ECDSA: pub is a compressed or uncompressed secp256k1 key, message a
// 32-byte digest, sig strict DER with low s (high s is rejected so a
// signature has one encoding). Ed25519: pub is 32 bytes, sig 64 bytes (RFC
// 8032). It is deterministic, allocation-light and safe to call from a
// replicated state machine. The inputs are not considered confidential.
func Verify(alg Algorithm, pub, message, sig []byte) bool {
	switch alg {
	case ECDSASecp256k1:
		if len(message) != ECDSADigestLen {
			return false
		}
		pk, err := secp256k1.ParsePubKey(pub)
		if err != nil {
			return false
		}
		s, err := decredecdsa.ParseDERSignature(sig)
		if err != nil {
			return false
		}
		ss := s.S()
		if ss.IsOverHalfOrder() {
			return false
		}
		return s.Verify(message, pk)
	case Ed25519:
		if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
			return false
		}
		return ed25519.Verify(ed25519.PublicKey(pub), message, sig)
	}
	return false
}
