package tss

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/big"

	"github.com/keyquorum/keyquorum/tss/scheme"
)

// Algorithm names a signature scheme; it and its encodings live in package
// scheme, and tss keeps the names its callers use.
type Algorithm = scheme.Algorithm

const (
	// ECDSASecp256k1 is ECDSA over secp256k1 (GG18/GG20 in tss-lib).
	ECDSASecp256k1 = scheme.ECDSASecp256k1
	// Ed25519 is threshold EdDSA producing RFC 8032 Ed25519 signatures.
	Ed25519 = scheme.Ed25519
)

// ParseAlgorithm parses the String form of an Algorithm.
func ParseAlgorithm(s string) (Algorithm, error) { return scheme.ParseAlgorithm(s) }

// Verify reports whether sig is a valid signature of message under pub
// (scheme.Verify has the encodings it accepts).
func Verify(alg Algorithm, pub, message, sig []byte) bool {
	return scheme.Verify(alg, pub, message, sig)
}

// PublicKeyPEM encodes pub as a SubjectPublicKeyInfo PEM block ("PUBLIC KEY").
func PublicKeyPEM(alg Algorithm, pub []byte) (string, error) { return scheme.PublicKeyPEM(alg, pub) }

// ParsePublicKeyPEM parses a PEM from PublicKeyPEM and returns the algorithm
// and the key in PublicKey's encoding (32 bytes, or 33-byte compressed).
func ParsePublicKeyPEM(s string) (Algorithm, []byte, error) { return scheme.ParsePublicKeyPEM(s) }

// MaxEd25519Message bounds an Ed25519 message: it is signed as is, and
// travels in the raft log and through every round of the protocol.
const MaxEd25519Message = 1024

// CheckMessage is the one rule of what each algorithm signs, used alike by
// the node before proposing, by every replica's state machine and by the
// engine: ECDSA a 32-byte digest below the group order (tss-lib checks
// only its own placeholder), Ed25519 the message itself, 1 to
// MaxEd25519Message bytes.
func CheckMessage(alg Algorithm, msg []byte) error {
	switch alg {
	case ECDSASecp256k1:
		if len(msg) != ecdsaDigestLen {
			return invalidf("ecdsa-secp256k1 signs a %d-byte digest, got %d bytes", ecdsaDigestLen, len(msg))
		}
		if new(big.Int).SetBytes(msg).Cmp(curveOrder(ECDSASecp256k1)) >= 0 {
			return invalidf("ecdsa-secp256k1 digest must be below the group order")
		}
	case Ed25519:
		if len(msg) == 0 || len(msg) > MaxEd25519Message {
			return invalidf("ed25519 signs a message of 1 to %d bytes, got %d", MaxEd25519Message, len(msg))
		}
	default:
		return invalidf("unknown algorithm %v", alg)
	}
	return nil
}

// SessionID names one protocol run. Every member derives it from the same
// Raft-committed facts, so messages of different runs never mix.
type SessionID [32]byte

const sessionDomain = "keyquorum/tss/session/v1"

// NewSessionID derives a session ID as SHA-256 over the length-prefixed
// domain tag, cluster ID, kind ("keygen", "sign", "reshare", ...), Raft log index, request
// ID and attempt number.
func NewSessionID(clusterID, kind string, index uint64, requestID string, attempt uint32) SessionID {
	h := sha256.New()
	var n [8]byte
	for _, s := range []string{sessionDomain, clusterID, kind} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	binary.BigEndian.PutUint64(n[:], index)
	h.Write(n[:])
	binary.BigEndian.PutUint64(n[:], uint64(len(requestID)))
	h.Write(n[:])
	h.Write([]byte(requestID))
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], attempt)
	h.Write(a[:])
	var id SessionID
	h.Sum(id[:0])
	return id
}

// String returns the first 8 bytes in hex, enough to correlate logs.
func (s SessionID) String() string { return hex.EncodeToString(s[:8]) }
