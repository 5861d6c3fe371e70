package msgcheck

import (
	"fmt"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/crypto/dlnproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/facproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/modproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/mta"
	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
)

// The bounds below follow how tss-lib v2.0.2 builds each proof, with q the
// group order (qb bits) and every modulus modulusBits wide. A response
// x = e*a + b, with e < q, is at most one bit wider than its wider term.

var bigOne = big.NewInt(1)

// dlnProof checks a serialized DLN proof: a length-prefixed pair of
// dlnproof.Iterations values, each below N-tilde.
func dlnProof(bzs [][]byte, what string) *fault {
	_, f := ints(bzs, 2+2*dlnproof.Iterations, modulusBits, what)
	return f
}

// ntildeParams checks N-tilde and its two bases: 2048 bits; 1 < h < N-tilde;
// h1 != h2 (keygen and resharing both refuse equal bases later).
func ntildeParams(nt, h1, h2 []byte) *fault {
	n, f := modulus(nt, "N-tilde")
	if f != nil {
		return f
	}
	a, f := intBelow(h1, n, 0, "h1")
	if f != nil {
		return f
	}
	b, f := intBelow(h2, n, 0, "h2")
	if f != nil {
		return f
	}
	if a.Cmp(bigOne) == 0 || b.Cmp(bigOne) == 0 || a.Cmp(b) == 0 {
		return faultf(CheckIntRange, "h1 or h2 is 1, or h1 = h2")
	}
	return nil
}

// modProof checks a Paillier-Blum modulus proof for n: W, X[i] and Z[i] in
// [1, n), A and B of Iterations+1 bits, and gcd(W, n) = 1 (tss-lib PR #323:
// a W sharing a factor with n passes the Jacobi test it relies on).
func modProof(bzs [][]byte, n *big.Int) *fault {
	if len(bzs) != modproof.ProofModBytesParts {
		return faultf(CheckShape, "mod proof has %d parts, want %d", len(bzs), modproof.ProofModBytesParts)
	}
	const it = modproof.Iterations
	var w *big.Int
	for i, b := range bzs {
		what := fmt.Sprintf("mod proof[%d]", i)
		if i == it+1 || i == it+2 { // A, B
			if _, f := intBits(b, it+1, what); f != nil {
				return f
			}
			continue
		}
		v, f := intBelow(b, n, 0, what)
		if f != nil {
			return f
		}
		if i == 0 {
			w = v
		}
	}
	if new(big.Int).GCD(nil, nil, w, n).Cmp(bigOne) != 0 {
		return faultf(CheckModProof, "gcd(W, N) != 1")
	}
	return nil
}

// facProof checks a no-small-factor proof for a 2048-bit N0 against a
// 2048-bit N-hat: P, Q, A, B, T < N-hat; sigma < q*N0*N-hat; z1, z2 <
// q^3*sqrt(N0) (plus e*p); w1, w2 < q^3*N-hat (plus e*mu); v < q^3*N0*N-hat
// (plus e*sigma).
func (c *Checker[M]) facProof(bzs [][]byte) *fault {
	if len(bzs) != facproof.ProofFacBytesParts {
		return faultf(CheckShape, "fac proof has %d parts, want %d", len(bzs), facproof.ProofFacBytesParts)
	}
	q3 := 3 * c.qb
	bounds := [facproof.ProofFacBytesParts]int{
		modulusBits, modulusBits, modulusBits, modulusBits, modulusBits, // P Q A B T
		c.qb + 2*modulusBits,                           // sigma
		q3 + modulusBits/2 + 1, q3 + modulusBits/2 + 1, // z1 z2
		q3 + modulusBits + 1, q3 + modulusBits + 1, // w1 w2
		q3 + 2*modulusBits + 1, // v
	}
	for i, b := range bzs {
		if _, f := intBits(b, bounds[i], fmt.Sprintf("fac proof[%d]", i)); f != nil {
			return f
		}
	}
	return nil
}

// paillierProof checks keygen's round-3 proof: ProofIters values below the
// sender's modulus n.
func paillierProof(bzs [][]byte, n *big.Int) *fault {
	if len(bzs) != paillier.ProofIters {
		return faultf(CheckShape, "paillier proof has %d parts, want %d", len(bzs), paillier.ProofIters)
	}
	for i, b := range bzs {
		if _, f := intBelow(b, n, 0, fmt.Sprintf("paillier proof[%d]", i)); f != nil {
			return f
		}
	}
	return nil
}

// rangeProofAlice checks Alice's MtA range proof: Z, W < N-tilde; U <
// n^2; S < n (n Alice's modulus, nil if unknown); s1 < q^3 (plus e*m);
// s2 < q^3*N-tilde (plus e*rho); and tss-lib PR #289: S != 1, Z != 1,
// S1 != S2, values that let a forged proof pass.
func (c *Checker[M]) rangeProofAlice(bzs [][]byte, n *big.Int) *fault {
	if len(bzs) != mta.RangeProofAliceBytesParts {
		return faultf(CheckShape, "range proof has %d parts, want %d", len(bzs), mta.RangeProofAliceBytesParts)
	}
	z, f := intBelow(bzs[0], nil, modulusBits, "range proof Z")
	if f != nil {
		return f
	}
	if _, f := intBelow(bzs[1], square(n), 2*modulusBits, "range proof U"); f != nil {
		return f
	}
	if _, f := intBelow(bzs[2], nil, modulusBits, "range proof W"); f != nil {
		return f
	}
	s, f := intBelow(bzs[3], n, modulusBits, "range proof S")
	if f != nil {
		return f
	}
	s1, f := intBits(bzs[4], 3*c.qb+1, "range proof S1")
	if f != nil {
		return f
	}
	s2, f := intBits(bzs[5], 3*c.qb+modulusBits+1, "range proof S2")
	if f != nil {
		return f
	}
	return distinctResponses(s, z, s1, s2, "range proof")
}

// distinctResponses is PR #289's check, applied to Alice's and Bob's proofs
// alike: an honest prover produces S = 1, Z = 1 or S1 = S2 with negligible
// probability.
func distinctResponses(s, z, s1, s2 *big.Int, what string) *fault {
	switch {
	case s.Cmp(bigOne) == 0:
		return faultf(CheckRangeProof, "%s S = 1", what)
	case z.Cmp(bigOne) == 0:
		return faultf(CheckRangeProof, "%s Z = 1", what)
	case s1.Cmp(s2) == 0:
		return faultf(CheckRangeProof, "%s S1 = S2", what)
	}
	return nil
}

// proofBob checks Bob's MtA proof (10 parts) or the variant with check
// (12 parts, U a point): Z, Z', T, W < N-tilde; V < n^2; S < n (n Alice's,
// here this node's modulus); s1 < q^3 (plus e*x); s2, t2 < q^3*N-tilde
// (plus e*rho, e*sigma); t1 < q^7 (plus e*y, y < q^5).
func (c *Checker[M]) proofBob(bzs [][]byte, withCheck bool, n *big.Int) *fault {
	parts, what := mta.ProofBobBytesParts, "Bob's proof"
	if withCheck {
		parts, what = mta.ProofBobWCBytesParts, "Bob's proof with check"
	}
	if len(bzs) != parts {
		return faultf(CheckShape, "%s has %d parts, want %d", what, len(bzs), parts)
	}
	v := make([]*big.Int, mta.ProofBobBytesParts)
	var f *fault
	for i := range v {
		name := fmt.Sprintf("%s[%d]", what, i)
		switch i {
		case 0, 1, 2, 4: // Z, Z', T, W
			v[i], f = intBelow(bzs[i], nil, modulusBits, name)
		case 3: // V
			v[i], f = intBelow(bzs[i], square(n), 2*modulusBits, name)
		case 5: // S
			v[i], f = intBelow(bzs[i], n, modulusBits, name)
		case 6: // s1
			v[i], f = intBits(bzs[i], 3*c.qb+1, name)
		case 8: // t1
			v[i], f = intBits(bzs[i], 7*c.qb+1, name)
		default: // s2, t2
			v[i], f = intBits(bzs[i], 3*c.qb+modulusBits+1, name)
		}
		if f != nil {
			return f
		}
	}
	if withCheck {
		if f := c.point(bzs[10], bzs[11], what+" U"); f != nil {
			return f
		}
	}
	return distinctResponses(v[5], v[0], v[6], v[7], what)
}

// schnorr checks a Schnorr proof: the commitment point and scalar responses.
func (c *Checker[M]) schnorr(ax, ay []byte, what string, responses ...[]byte) *fault {
	if f := c.point(ax, ay, what+" alpha"); f != nil {
		return f
	}
	for i, r := range responses {
		if f := c.scalar(r, fmt.Sprintf("%s response %d", what, i)); f != nil {
			return f
		}
	}
	return nil
}
