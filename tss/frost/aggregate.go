package frost

import (
	"fmt"
	"slices"
	"strings"

	"filippo.io/edwards25519"
)

// VerifyShare is verify_signature_share (RFC 9591 Section 5.3): it checks
// z_i·B == D_i + rho_i·E_i + (c·lambda_i)·public_key_i for one signer's
// share against the commitment list and msg. It returns nil for a valid
// share and an *InvalidShareError naming the signer for an invalid one;
// other errors mean the inputs themselves were refused.
func (g *GroupInfo) VerifyShare(share SignatureShare, msg []byte, commitments []Commitment) error {
	p, err := g.signingPackage(msg, commitments)
	if err != nil {
		return err
	}
	i := p.index(share.id)
	if !share.id.valid() || i < 0 {
		return fmt.Errorf("%w: share from %s has no commitment in the list", ErrUnknownSigner, share.id)
	}
	if !g.verifyShare(p, i, &share.z) {
		return &InvalidShareError{Culprits: []Identifier{share.id}}
	}
	return nil
}

// Aggregate is aggregate (RFC 9591 Section 5.3): it sums the shares into z,
// returns the Ed25519 signature R || z, and verifies it under the group
// key first, as the RFC says the coordinator SHOULD.
//
// The shares must be exactly one per commitment, and the commitments from
// at least MinSigners participants of the group. If the signature does not
// verify, Aggregate checks every share (RFC 9591 Section 5.4) and returns an
// *InvalidShareError naming each signer whose share is invalid.
func (g *GroupInfo) Aggregate(msg []byte, commitments []Commitment, shares []SignatureShare) ([]byte, error) {
	if len(shares) > MaxSigners {
		return nil, fmt.Errorf("%w: %d shares", ErrSignerCount, len(shares))
	}
	p, err := g.signingPackage(msg, commitments)
	if err != nil {
		return nil, err
	}
	z := make([]*edwards25519.Scalar, len(p.commitments))
	for _, s := range shares {
		i := p.index(s.id)
		if !s.id.valid() || i < 0 {
			return nil, fmt.Errorf("%w: share from %s has no commitment in the list", ErrUnknownSigner, s.id)
		}
		if z[i] != nil {
			return nil, fmt.Errorf("%w: two shares from %s", ErrDuplicateIdentifier, s.id)
		}
		z[i] = edwards25519.NewScalar().Set(&s.z)
	}
	var missing []string
	for i, zi := range z {
		if zi == nil {
			missing = append(missing, p.commitments[i].id.String())
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: from %s", ErrMissingShare, strings.Join(missing, ", "))
	}
	sum := edwards25519.NewScalar()
	for _, zi := range z {
		sum.Add(sum, zi)
	}
	sig := append(slices.Clone(p.rEnc), sum.Bytes()...)
	if verifySignature(g.key, p, sum) {
		return sig, nil
	}
	var culprits []Identifier
	for i, c := range p.commitments {
		if !g.verifyShare(p, i, z[i]) {
			culprits = append(culprits, c.id)
		}
	}
	if len(culprits) > 0 {
		return nil, &InvalidShareError{Culprits: culprits}
	}
	return nil, fmt.Errorf("%w: every share verifies; the group info does not match the signers' key shares",
		ErrInvalidSignature)
}

// signingPackage validates the commitment list against the group (every
// signer a participant, at least MinSigners of them) and derives the
// signing package from it.
func (g *GroupInfo) signingPackage(msg []byte, commitments []Commitment) (*signingPackage, error) {
	if g == nil || g.key == nil {
		return nil, fmt.Errorf("%w: not made by NewGroupInfo", ErrInvalidGroup)
	}
	if len(commitments) < g.minSigners || len(commitments) > MaxSigners {
		return nil, fmt.Errorf("%w: %d commitments, want %d..%d", ErrSignerCount, len(commitments),
			g.minSigners, min(len(g.shares), MaxSigners))
	}
	for _, c := range commitments {
		if _, ok := g.shares[c.id]; !ok {
			return nil, fmt.Errorf("%w: commitment from %s, not a participant", ErrUnknownSigner, c.id)
		}
	}
	return newSigningPackage(g.keyEnc[:], msg, commitments)
}

// verifyShare checks share i of p: z_i·B - rho_i·E_i - (c·lambda_i)·Y_i
// must equal D_i. All values are public, so it runs in variable time.
func (g *GroupInfo) verifyShare(p *signingPackage, i int, z *edwards25519.Scalar) bool {
	c := p.commitments[i]
	lambda := deriveInterpolatingValue(p.ids, i)
	k := edwards25519.NewScalar().Multiply(p.c, lambda)
	negRho := edwards25519.NewScalar().Negate(p.rho[i])
	k.Negate(k)
	lhs := new(edwards25519.Point).VarTimeMultiScalarMult(
		[]*edwards25519.Scalar{z, negRho, k},
		[]*edwards25519.Point{edwards25519.NewGeneratorPoint(), c.e, g.shares[c.id]})
	return lhs.Equal(c.d) == 1
}

// verifySignature checks the aggregate with the cofactored equation RFC
// 9591 Section 6.1 requires, [8][z]B == [8]R + [8][c]PK, as
// [8]([z]B - [c]PK - R) == identity. R and PK are prime-order here, so
// crypto/ed25519's cofactorless check agrees.
func verifySignature(pk *edwards25519.Point, p *signingPackage, z *edwards25519.Scalar) bool {
	negC := edwards25519.NewScalar().Negate(p.c)
	v := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(negC, pk, z)
	v.Subtract(v, p.r)
	v.MultByCofactor(v)
	return v.Equal(edwards25519.NewIdentityPoint()) == 1
}

// GroupCommitment returns the encoded group commitment R (RFC 9591
// Section 4.5) that signers holding these commitments produce for msg
// under groupPublicKey: the first half of the signature they aggregate.
// An observer that is told which commitments made a signature checks the
// claim with it, and can then watch for a commitment used twice.
func GroupCommitment(groupPublicKey, msg []byte, commitments []Commitment) ([]byte, error) {
	if _, err := deserializeElement(groupPublicKey); err != nil {
		return nil, fmt.Errorf("frost: group public key: %w", err)
	}
	p, err := newSigningPackage(groupPublicKey, msg, commitments)
	if err != nil {
		return nil, err
	}
	return slices.Clone(p.rEnc), nil
}
