package frost

import (
	"crypto/sha512"
	"crypto/subtle"
	"fmt"

	"filippo.io/edwards25519"
)

// Sizes of the FROST(Ed25519, SHA-512) encodings (RFC 9591 Section 6.1).
const (
	// ElementSize is Ne: a point in RFC 8032 encoding.
	ElementSize = 32
	// ScalarSize is Ns: a little-endian scalar below the group order.
	ScalarSize = 32
	// SignatureSize is an encoded signature R || z (RFC 9591 Appendix A).
	SignatureSize = ElementSize + ScalarSize
	// MaxSigners bounds every commitment, share and group list, so that
	// hostile input is refused before any work is done on it.
	MaxSigners = 255
)

// contextString is the ciphersuite's domain separator (RFC 9591 Section 6.1).
const contextString = "FROST-ED25519-SHA512-v1"

// hashToScalar computes SHA-512 over parts, reads the 64-byte digest as a
// little-endian integer and reduces it mod L: the shape of H1, H2 and H3 in
// RFC 9591 Section 6.1.
func hashToScalar(parts ...[]byte) *edwards25519.Scalar {
	h := sha512.New()
	for _, p := range parts {
		h.Write(p)
	}
	var d [sha512.Size]byte
	s, err := edwards25519.NewScalar().SetUniformBytes(h.Sum(d[:0]))
	if err != nil {
		// SetUniformBytes fails only on a length other than 64.
		panic("frost: SHA-512 digest is not 64 bytes")
	}
	clear(d[:]) // H3's input holds a secret; its digest is the nonce.
	return s
}

// h1 is H1(m) = H(contextString || "rho" || m) mod L (RFC 9591 Section 6.1).
func h1(m ...[]byte) *edwards25519.Scalar {
	return hashToScalar(append([][]byte{[]byte(contextString + "rho")}, m...)...)
}

// h2 is H2(m) = H(m) mod L (RFC 9591 Section 6.1). It has no domain
// separator so that the challenge is RFC 8032's SHA-512(R || A || M).
func h2(m ...[]byte) *edwards25519.Scalar { return hashToScalar(m...) }

// h3 is H3(m) = H(contextString || "nonce" || m) mod L (RFC 9591 Section 6.1).
func h3(m ...[]byte) *edwards25519.Scalar {
	return hashToScalar(append([][]byte{[]byte(contextString + "nonce")}, m...)...)
}

// h4 is H4(m) = H(contextString || "msg" || m) (RFC 9591 Section 6.1).
func h4(m []byte) []byte {
	h := sha512.New()
	h.Write([]byte(contextString + "msg"))
	h.Write(m)
	return h.Sum(nil)
}

// h5 is H5(m) = H(contextString || "com" || m) (RFC 9591 Section 6.1).
func h5(m []byte) []byte {
	h := sha512.New()
	h.Write([]byte(contextString + "com"))
	h.Write(m)
	return h.Sum(nil)
}

// scalarOne returns the scalar 1.
func scalarOne() *edwards25519.Scalar {
	var b [ScalarSize]byte
	b[0] = 1
	s, _ := edwards25519.NewScalar().SetCanonicalBytes(b[:])
	return s
}

// zeroScalar overwrites s with zero, for secrets that are done with.
func zeroScalar(s *edwards25519.Scalar) {
	if s != nil {
		s.Set(edwards25519.NewScalar())
	}
}

// deserializeScalar is DeserializeScalar (RFC 9591 Section 6.1): a
// 32-byte little-endian integer that must be below the group order L, so
// the top three bits are zero. It runs in constant time in the value.
func deserializeScalar(b []byte) (*edwards25519.Scalar, error) {
	if len(b) != ScalarSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidScalar, len(b), ScalarSize)
	}
	s, err := edwards25519.NewScalar().SetCanonicalBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%w: non-canonical encoding (not below the group order)", ErrInvalidScalar)
	}
	return s, nil
}

// deserializeElement is DeserializeElement (RFC 9591 Section 6.1): RFC 8032
// Section 5.1.3 decoding, then refuse the identity and any point outside the
// prime-order subgroup. Encodings are public; this is not constant time.
func deserializeElement(b []byte) (*edwards25519.Point, error) {
	if len(b) != ElementSize {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidElement, len(b), ElementSize)
	}
	p, err := new(edwards25519.Point).SetBytes(b)
	if err != nil {
		return nil, fmt.Errorf("%w: not a point on edwards25519", ErrInvalidElement)
	}
	// SetBytes also accepts non-canonical encodings (y >= p, or x = 0 with
	// the sign bit set), which RFC 8032 decoding refuses; re-encoding tells.
	if subtle.ConstantTimeCompare(p.Bytes(), b) != 1 {
		return nil, fmt.Errorf("%w: non-canonical encoding", ErrInvalidElement)
	}
	if p.Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, fmt.Errorf("%w: the identity", ErrInvalidElement)
	}
	if !inPrimeOrderSubgroup(p) {
		return nil, fmt.Errorf("%w: not in the prime-order subgroup (small-order component)", ErrInvalidElement)
	}
	return p, nil
}

// inPrimeOrderSubgroup reports whether [L]p is the identity, checked as
// [L-1]p == -p because L itself is not a representable scalar.
func inPrimeOrderSubgroup(p *edwards25519.Point) bool {
	lMinusOne := edwards25519.NewScalar().Subtract(edwards25519.NewScalar(), scalarOne())
	q := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(lMinusOne, p, edwards25519.NewScalar())
	return q.Equal(new(edwards25519.Point).Negate(p)) == 1
}

// serializeElement is SerializeElement (RFC 9591 Section 6.1), which
// refuses the identity.
func serializeElement(p *edwards25519.Point) ([]byte, error) {
	if p.Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, fmt.Errorf("%w: cannot serialize the identity", ErrInvalidElement)
	}
	return p.Bytes(), nil
}
