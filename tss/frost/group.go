package frost

import (
	"fmt"
	"maps"
	"slices"

	"filippo.io/edwards25519"
)

// GroupInfo is RFC 9591's "group info" (Section 5): the group public key,
// every participant's verifying share public_key_i, and MinSigners. It is
// public, immutable once built, and safe for concurrent use. The
// coordinator uses it to verify signature shares and aggregate them.
type GroupInfo struct {
	minSigners int
	key        *edwards25519.Point
	keyEnc     [ElementSize]byte
	shares     map[Identifier]*edwards25519.Point
}

// NewGroupInfo validates and builds group info. verifyingShares maps each
// participant's identifier to its verifying share (RFC 8032 encoding).
// minSigners is MIN_PARTICIPANTS: tss-lib's threshold t plus one.
//
// Besides decoding every point, it checks that the verifying shares lie on
// one polynomial of degree minSigners-1 whose value at zero is the group
// key, so shares paired with the wrong key are caught here and not as an
// unattributable failed signature later. That costs about
// minSigners·len(verifyingShares) multiplications, once per key.
func NewGroupInfo(minSigners int, groupPublicKey []byte, verifyingShares map[Identifier][]byte) (*GroupInfo, error) {
	n := len(verifyingShares)
	if n < 1 || n > MaxSigners {
		return nil, fmt.Errorf("%w: %d participants, want 1..%d", ErrSignerCount, n, MaxSigners)
	}
	if minSigners < 1 || minSigners > n {
		return nil, fmt.Errorf("%w: min signers %d for %d participants", ErrInvalidGroup, minSigners, n)
	}
	key, err := deserializeElement(groupPublicKey)
	if err != nil {
		return nil, fmt.Errorf("frost: group public key: %w", err)
	}
	g := &GroupInfo{minSigners: minSigners, key: key, shares: make(map[Identifier]*edwards25519.Point, n)}
	copy(g.keyEnc[:], groupPublicKey)
	for id, enc := range verifyingShares {
		if !id.valid() {
			return nil, fmt.Errorf("%w: zero identifier in group", ErrInvalidIdentifier)
		}
		p, err := deserializeElement(enc)
		if err != nil {
			return nil, fmt.Errorf("frost: verifying share of %s: %w", id, err)
		}
		g.shares[id] = p
	}
	if err := g.checkConsistent(); err != nil {
		return nil, err
	}
	return g, nil
}

// checkConsistent interpolates, in the exponent, the polynomial through the
// first minSigners verifying shares and checks that it gives the group key
// at zero and every other verifying share at its identifier.
func (g *GroupInfo) checkConsistent() error {
	ids := g.Identifiers()
	basis := ids[:g.minSigners]
	xs := make([]*edwards25519.Scalar, len(basis))
	pts := make([]*edwards25519.Point, len(basis))
	for j, id := range basis {
		xs[j], pts[j] = id.scalar(), g.shares[id]
	}
	eval := func(x *edwards25519.Scalar) *edwards25519.Point {
		coeffs := make([]*edwards25519.Scalar, len(xs))
		for j := range xs {
			coeffs[j] = lagrangeAt(x, xs, j)
		}
		return new(edwards25519.Point).VarTimeMultiScalarMult(coeffs, pts)
	}
	if eval(edwards25519.NewScalar()).Equal(g.key) != 1 {
		return fmt.Errorf("%w: verifying shares do not interpolate to the group public key", ErrInvalidGroup)
	}
	for _, id := range ids[g.minSigners:] {
		if eval(id.scalar()).Equal(g.shares[id]) != 1 {
			return fmt.Errorf("%w: verifying share of %s is off the degree-%d polynomial of the others",
				ErrInvalidGroup, id, g.minSigners-1)
		}
	}
	return nil
}

// lagrangeAt returns the Lagrange basis polynomial for xs[j] evaluated at x:
// prod over m != j of (x - xs[m]) / (xs[j] - xs[m]). The xs are distinct.
func lagrangeAt(x *edwards25519.Scalar, xs []*edwards25519.Scalar, j int) *edwards25519.Scalar {
	num, den := scalarOne(), scalarOne()
	t := edwards25519.NewScalar()
	for m, xm := range xs {
		if m == j {
			continue
		}
		num.Multiply(num, t.Subtract(x, xm))
		den.Multiply(den, t.Subtract(xs[j], xm))
	}
	return num.Multiply(num, den.Invert(den))
}

// MinSigners returns MIN_PARTICIPANTS, the fewest signers that can sign.
func (g *GroupInfo) MinSigners() int { return g.minSigners }

// PublicKey returns the group public key, an Ed25519 public key.
func (g *GroupInfo) PublicKey() []byte { return slices.Clone(g.keyEnc[:]) }

// Identifiers returns the participants' identifiers in ascending order.
func (g *GroupInfo) Identifiers() []Identifier {
	return slices.SortedFunc(maps.Keys(g.shares), Identifier.Compare)
}

// VerifyingShare returns a participant's verifying share, or false if id is
// not a participant.
func (g *GroupInfo) VerifyingShare(id Identifier) ([]byte, bool) {
	p, ok := g.shares[id]
	if !ok {
		return nil, false
	}
	return p.Bytes(), true
}
