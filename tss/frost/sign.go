package frost

import (
	"fmt"
	"slices"

	"filippo.io/edwards25519"
)

// SignatureShare is one signer's round-two output z_i (RFC 9591 Section
// 5.2) with its identifier. Once sent it is public. The zero value is
// invalid.
type SignatureShare struct {
	id Identifier
	z  edwards25519.Scalar
}

// SignatureShareSize is the length of an encoded SignatureShare:
// SerializeScalar(i) || SerializeScalar(z_i).
const SignatureShareSize = 2 * ScalarSize

// NewSignatureShare decodes a share z_i (SerializeScalar, canonical) sent
// by signer id, as the coordinator must before aggregating (RFC 9591
// Section 5.3).
func NewSignatureShare(id Identifier, z []byte) (SignatureShare, error) {
	if !id.valid() {
		return SignatureShare{}, fmt.Errorf("%w: zero identifier", ErrInvalidIdentifier)
	}
	s, err := deserializeScalar(z)
	if err != nil {
		return SignatureShare{}, fmt.Errorf("frost: signature share of %s: %w", id, err)
	}
	sh := SignatureShare{id: id}
	sh.z.Set(s)
	return sh, nil
}

// ParseSignatureShare decodes MarshalBinary's encoding.
func ParseSignatureShare(b []byte) (SignatureShare, error) {
	if len(b) != SignatureShareSize {
		return SignatureShare{}, fmt.Errorf("frost: signature share is %d bytes, want %d", len(b), SignatureShareSize)
	}
	id, err := ParseIdentifier(b[:ScalarSize])
	if err != nil {
		return SignatureShare{}, fmt.Errorf("frost: signature share: %w", err)
	}
	return NewSignatureShare(id, b[ScalarSize:])
}

// Identifier returns the signer's identifier.
func (s SignatureShare) Identifier() Identifier { return s.id }

// Bytes returns SerializeScalar(z_i).
func (s SignatureShare) Bytes() []byte { return s.z.Bytes() }

// MarshalBinary returns SerializeScalar(i) || SerializeScalar(z_i).
func (s SignatureShare) MarshalBinary() ([]byte, error) {
	if !s.id.valid() {
		return nil, fmt.Errorf("frost: signature share not made by Sign or NewSignatureShare")
	}
	return append(s.id.Bytes(), s.z.Bytes()...), nil
}

// signingPackage is what signers and coordinator derive alike from the
// group key, the message and the commitment list: the list sorted, binding
// factors, group commitment R and challenge c.
type signingPackage struct {
	commitments []Commitment // sorted by identifier
	ids         []*edwards25519.Scalar
	rho         []*edwards25519.Scalar // binding_factor_list, aligned with commitments
	r           *edwards25519.Point    // group commitment
	rEnc        []byte
	c           *edwards25519.Scalar // challenge
}

// newSigningPackage validates the commitment list (size, validity,
// duplicates), sorts a copy as RFC 9591 Section 4.3 requires, and computes
// binding factors (4.4), the group commitment (4.5) and the challenge (4.6).
func newSigningPackage(groupKey []byte, msg []byte, commitments []Commitment) (*signingPackage, error) {
	if len(commitments) < 1 || len(commitments) > MaxSigners {
		return nil, fmt.Errorf("%w: %d commitments, want 1..%d", ErrSignerCount, len(commitments), MaxSigners)
	}
	sorted := slices.Clone(commitments)
	for _, c := range sorted {
		if !c.valid() {
			return nil, fmt.Errorf("frost: commitment list holds a commitment not made by Commit or NewCommitment")
		}
	}
	slices.SortFunc(sorted, func(a, b Commitment) int { return a.id.Compare(b.id) })
	for i := 1; i < len(sorted); i++ {
		if sorted[i].id == sorted[i-1].id {
			return nil, fmt.Errorf("%w: %s in commitment list", ErrDuplicateIdentifier, sorted[i].id)
		}
	}
	p := &signingPackage{commitments: sorted, ids: make([]*edwards25519.Scalar, len(sorted))}
	for i, c := range sorted {
		p.ids[i] = c.id.scalar()
	}
	p.rho = computeBindingFactors(groupKey, sorted, msg)
	p.r = computeGroupCommitment(sorted, p.rho)
	enc, err := serializeElement(p.r)
	if err != nil {
		return nil, ErrIdentityCommitment
	}
	p.rEnc = enc
	p.c = computeChallenge(p.rEnc, groupKey, msg)
	return p, nil
}

// index returns the position of id in the sorted commitment list, or -1.
func (p *signingPackage) index(id Identifier) int {
	i, ok := slices.BinarySearchFunc(p.commitments, id, func(c Commitment, id Identifier) int {
		return c.id.Compare(id)
	})
	if !ok {
		return -1
	}
	return i
}

// encodeGroupCommitmentList is encode_group_commitment_list (RFC 9591
// Section 4.3) of a list already sorted by identifier.
func encodeGroupCommitmentList(sorted []Commitment) []byte {
	b := make([]byte, 0, len(sorted)*CommitmentSize)
	for _, c := range sorted {
		b = c.appendEncoding(b)
	}
	return b
}

// computeBindingFactors is compute_binding_factors (RFC 9591 Section 4.4):
// rho_i = H1(rho_input_i), returned in list order.
func computeBindingFactors(groupKey []byte, sorted []Commitment, msg []byte) []*edwards25519.Scalar {
	inputs := bindingFactorInputs(groupKey, sorted, msg)
	rho := make([]*edwards25519.Scalar, len(inputs))
	for i, in := range inputs {
		rho[i] = h1(in)
	}
	return rho
}

// bindingFactorInputs returns each signer's rho_input = group_public_key ||
// H4(msg) || H5(encode_group_commitment_list(list)) || SerializeScalar(i)
// (RFC 9591 Section 4.4), in list order.
func bindingFactorInputs(groupKey []byte, sorted []Commitment, msg []byte) [][]byte {
	prefix := make([]byte, 0, ElementSize+2*64)
	prefix = append(prefix, groupKey...)
	prefix = append(prefix, h4(msg)...)
	prefix = append(prefix, h5(encodeGroupCommitmentList(sorted))...)
	inputs := make([][]byte, len(sorted))
	for i, c := range sorted {
		inputs[i] = append(slices.Clip(prefix), c.id.enc[:]...)
	}
	return inputs
}

// computeGroupCommitment is compute_group_commitment (RFC 9591 Section
// 4.5): R = sum of D_i + rho_i·E_i. Every input is public, so the rho_i·E_i
// terms share one variable-time multi-scalar multiplication and the D_i
// are added to it.
func computeGroupCommitment(sorted []Commitment, rho []*edwards25519.Scalar) *edwards25519.Point {
	points := make([]*edwards25519.Point, len(sorted))
	for i, c := range sorted {
		points[i] = c.e
	}
	r := new(edwards25519.Point).VarTimeMultiScalarMult(rho, points)
	for _, c := range sorted {
		r.Add(r, c.d)
	}
	return r
}

// computeChallenge is compute_challenge (RFC 9591 Section 4.6): H2(R ||
// group_public_key || msg), which for this ciphersuite is exactly RFC 8032's
// SHA-512(R || A || M) mod L.
func computeChallenge(rEnc, groupKey, msg []byte) *edwards25519.Scalar {
	return h2(rEnc, groupKey, msg)
}

// deriveInterpolatingValue is derive_interpolating_value (RFC 9591 Section
// 4.2): the Lagrange coefficient at zero of xs[i] over xs, prod x_j /
// prod (x_j - x_i) for j != i. The caller guarantees xs are distinct and
// non-zero (the commitment list was checked for duplicates).
func deriveInterpolatingValue(xs []*edwards25519.Scalar, i int) *edwards25519.Scalar {
	num, den := scalarOne(), scalarOne()
	t := edwards25519.NewScalar()
	for j, xj := range xs {
		if j == i {
			continue
		}
		num.Multiply(num, xj)
		den.Multiply(den, t.Subtract(xj, xs[i]))
	}
	return num.Multiply(num, den.Invert(den))
}

// Sign is round two, sign (RFC 9591 Section 5.2): the signer's share
// z_i = hiding + binding·rho_i + lambda_i·secret_key_i·c over msg and the
// coordinator's commitment list (any order; it is sorted here).
//
// It consumes nonces first, whatever happens next, so a nonce pair is
// offered to at most one signing attempt; a consumed pair is refused with
// ErrNoncesUsed. It refuses nonces made by another share, a list with
// duplicate identifiers or over MaxSigners, and a list in which this
// signer's commitment is missing or differs from the one its nonces made.
func Sign(share *KeyShare, nonces Nonces, msg []byte, commitments []Commitment) (SignatureShare, error) {
	hiding, binding, own, err := nonces.consume()
	if err != nil {
		return SignatureShare{}, err
	}
	defer zeroScalar(hiding)
	defer zeroScalar(binding)
	if share == nil || own.id != share.id {
		return SignatureShare{}, fmt.Errorf("%w: nonces were made for another signer", ErrCommitmentMismatch)
	}
	p, err := newSigningPackage(share.group[:], msg, commitments)
	if err != nil {
		return SignatureShare{}, err
	}
	i := p.index(share.id)
	if i < 0 {
		return SignatureShare{}, fmt.Errorf("%w: signer %s is not in the commitment list", ErrUnknownSigner, share.id)
	}
	if !p.commitments[i].Equal(own) {
		return SignatureShare{}, fmt.Errorf("%w: signer %s", ErrCommitmentMismatch, share.id)
	}
	lambda := deriveInterpolatingValue(p.ids, i)
	out := SignatureShare{id: share.id}
	err = share.withSecret(func(s *edwards25519.Scalar) error {
		shareArithmetic(&out.z, hiding, binding, p.rho[i], edwards25519.NewScalar().Multiply(lambda, p.c), s)
		return nil
	})
	if err != nil {
		return SignatureShare{}, err
	}
	return out, nil
}

// shareArithmetic sets z = hiding + binding·rho + lambdaC·secret: all of
// round two's arithmetic on secrets, in constant-time scalar operations
// (consttime_test.go measures it on its own).
func shareArithmetic(z, hiding, binding, rho, lambdaC, secret *edwards25519.Scalar) {
	t := edwards25519.NewScalar().MultiplyAdd(binding, rho, hiding)
	z.MultiplyAdd(lambdaC, secret, t)
	zeroScalar(t)
}
