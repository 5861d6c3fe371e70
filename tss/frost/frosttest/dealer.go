// Package frosttest deals FROST keys for tests: a trusted dealer (RFC 9591
// Appendix C) that Shamir-splits a secret among chosen identifiers. Its
// outputs carry secret shares in the clear; it is for tests and
// benchmarks only. keyquorum's real keys come from tss-lib keygen.
package frosttest

import (
	"fmt"
	"io"

	"filippo.io/edwards25519"
	"github.com/keyquorum/keyquorum/tss/frost"
)

// Dealt is one dealt key.
type Dealt struct {
	Group   *frost.GroupInfo
	Shares  []*frost.KeyShare // in the order of the identifiers dealt to
	Secrets [][]byte          // each share's secret, SerializeScalar; test-only
	Public  []byte            // group public key
}

// SmallIDs returns the RFC's identifiers 1..n.
func SmallIDs(n int) []frost.Identifier {
	ids := make([]frost.Identifier, n)
	for i := range ids {
		id, err := frost.NewIdentifier(uint64(i + 1))
		if err != nil {
			panic(err) // i+1 is never zero
		}
		ids[i] = id
	}
	return ids
}

// Split is secret_share_shard (RFC 9591 Appendix C.1) generalised to any
// identifiers: f(x) = secret + coefficients[0]·x + coefficients[1]·x^2 + ...,
// share_i = f(i). secret and coefficients are SerializeScalar encodings; the
// group needs len(coefficients)+1 signers.
func Split(secret []byte, coefficients [][]byte, ids []frost.Identifier) (*Dealt, error) {
	poly := make([]*edwards25519.Scalar, 0, len(coefficients)+1)
	for _, b := range append([][]byte{secret}, coefficients...) {
		s, err := edwards25519.NewScalar().SetCanonicalBytes(b)
		if err != nil {
			return nil, fmt.Errorf("frosttest: coefficient: %w", err)
		}
		poly = append(poly, s)
	}
	pub := new(edwards25519.Point).ScalarBaseMult(poly[0]).Bytes()
	d := &Dealt{Public: pub}
	verifying := make(map[frost.Identifier][]byte, len(ids))
	for _, id := range ids {
		x, err := edwards25519.NewScalar().SetCanonicalBytes(id.Bytes())
		if err != nil {
			return nil, err
		}
		y := polynomialEvaluate(x, poly)
		ks, err := frost.NewKeyShare(id, y.Bytes(), pub)
		if err != nil {
			return nil, err
		}
		d.Shares = append(d.Shares, ks)
		d.Secrets = append(d.Secrets, y.Bytes())
		verifying[id] = ks.VerifyingShare()
	}
	g, err := frost.NewGroupInfo(len(poly), pub, verifying)
	if err != nil {
		return nil, err
	}
	d.Group = g
	return d, nil
}

// Deal is trusted_dealer_keygen (RFC 9591 Appendix C): a random secret and
// minSigners-1 random coefficients from rand (wide reduction, Appendix D),
// split among ids.
func Deal(rand io.Reader, minSigners int, ids []frost.Identifier) (*Dealt, error) {
	if minSigners < 1 {
		return nil, fmt.Errorf("frosttest: min signers %d", minSigners)
	}
	coeffs := make([][]byte, minSigners)
	for i := range coeffs {
		var b [64]byte
		if _, err := io.ReadFull(rand, b[:]); err != nil {
			return nil, err
		}
		s, _ := edwards25519.NewScalar().SetUniformBytes(b[:])
		coeffs[i] = s.Bytes()
	}
	return Split(coeffs[0], coeffs[1:], ids)
}

// polynomialEvaluate is polynomial_evaluate (RFC 9591 Appendix C.1), by
// Horner's rule: coeffs[0] is the constant term.
func polynomialEvaluate(x *edwards25519.Scalar, coeffs []*edwards25519.Scalar) *edwards25519.Scalar {
	v := edwards25519.NewScalar()
	for i := len(coeffs) - 1; i >= 0; i-- {
		v.Multiply(v, x)
		v.Add(v, coeffs[i])
	}
	return v
}
