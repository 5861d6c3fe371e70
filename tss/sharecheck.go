package tss

import (
	"crypto/elliptic"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/crypto"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"

	"github.com/keyquorum/keyquorum/tss/scheme"
)

// curveFor returns the tss-lib curve and its registry name for alg. The
// curve is passed explicitly; tss-lib's global curve is never changed.
func curveFor(alg Algorithm) (elliptic.Curve, tsslib.CurveName) {
	if alg == Ed25519 {
		return tsslib.Edwards(), tsslib.Ed25519
	}
	return tsslib.S256(), tsslib.Secp256k1
}

// validate checks a share built by keygen or decoded from bytes and fills pub.
func (s *Share) validate() error {
	if !s.alg.Valid() {
		return invalidf("share algorithm")
	}
	n := len(s.parties)
	if s.threshold < 1 || s.threshold >= n {
		return invalidf("share threshold %d for %d parties", s.threshold, n)
	}
	ec, name := curveFor(s.alg)
	order := ec.Params().N
	selfKey := s.keys[s.self]
	if selfKey == nil {
		return invalidf("share owner %q is not a party", s.self)
	}
	want := make(map[string]bool, n)
	for _, p := range s.parties {
		k := s.keys[p]
		if p == "" || k == nil || k.Sign() <= 0 || k.Cmp(order) >= 0 || want[k.String()] {
			return invalidf("share party key for %q", p)
		}
		// Keys are derived from node IDs and the share's epoch.
		if k.Cmp(partyKey(s.alg, p, s.epoch)) != 0 {
			return invalidf("share party key for %q does not match its node ID", p)
		}
		want[k.String()] = true
	}
	var xi, shareID *big.Int
	var ks []*big.Int
	var bigXj []*crypto.ECPoint
	var pub *crypto.ECPoint
	switch s.alg {
	case ECDSASecp256k1:
		d := s.ecdsa
		if d == nil || s.eddsa != nil {
			return invalidf("share has no ECDSA data")
		}
		if !d.LocalPreParams.ValidateWithProof() || len(d.NTildej) != n || len(d.H1j) != n ||
			len(d.H2j) != n || len(d.PaillierPKs) != n {
			return invalidf("share ECDSA parameters incomplete")
		}
		for j := 0; j < n; j++ {
			if d.NTildej[j] == nil || d.H1j[j] == nil || d.H2j[j] == nil || d.PaillierPKs[j] == nil || d.PaillierPKs[j].N == nil {
				return invalidf("share ECDSA parameters incomplete")
			}
		}
		xi, shareID, ks, bigXj, pub = d.Xi, d.ShareID, d.Ks, d.BigXj, d.ECDSAPub
	case Ed25519:
		d := s.eddsa
		if d == nil || s.ecdsa != nil {
			return invalidf("share has no EdDSA data")
		}
		xi, shareID, ks, bigXj, pub = d.Xi, d.ShareID, d.Ks, d.BigXj, d.EDDSAPub
	}
	if len(ks) != n || len(bigXj) != n {
		return invalidf("share has %d keys and %d public shares for %d parties", len(ks), len(bigXj), n)
	}
	selfIdx := -1
	for j, k := range ks {
		if k == nil || !want[k.String()] {
			return invalidf("share key list does not match its parties")
		}
		delete(want, k.String())
		if k.Cmp(selfKey) == 0 {
			selfIdx = j
		}
	}
	if shareID == nil || shareID.Cmp(selfKey) != 0 || selfIdx < 0 {
		return invalidf("share ID does not match its owner")
	}
	for _, p := range append([]*crypto.ECPoint{pub}, bigXj...) {
		if !pointOn(p, ec, name) {
			return invalidf("share point not on %s", name)
		}
	}
	if xi == nil || xi.Sign() <= 0 || xi.Cmp(order) >= 0 {
		return invalidf("share secret out of range")
	}
	// The secret share must match this member's public share: catches a
	// share paired with the wrong key or corrupted at rest.
	gx, gy := ec.ScalarBaseMult(xi.Bytes())
	if gx.Cmp(bigXj[selfIdx].X()) != 0 || gy.Cmp(bigXj[selfIdx].Y()) != 0 {
		return invalidf("share secret does not match its public share")
	}
	enc, err := scheme.EncodePoint(s.alg, pub.X(), pub.Y())
	if err != nil {
		return invalidf("share public key: %v", err)
	}
	s.pub = enc
	return nil
}

// pointOn reports whether p is a point on ec whose recorded curve is the one
// registered under name.
func pointOn(p *crypto.ECPoint, ec elliptic.Curve, name tsslib.CurveName) bool {
	if p == nil || p.Curve() == nil || p.X() == nil || p.Y() == nil {
		return false
	}
	got, ok := tsslib.GetCurveName(p.Curve())
	return ok && got == name && ec.IsOnCurve(p.X(), p.Y())
}
