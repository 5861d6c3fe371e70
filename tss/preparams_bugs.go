//go:build kqd_bugs

package tss

import "math/big"

// PaillierFactor returns a prime factor of p's Paillier modulus, for a
// kqd_bugs build playing a malicious member whose mod proof must share a
// factor with its modulus. Only kqd_bugs builds have it: the factor is the
// Paillier private key.
func PaillierFactor(p *PreParams) *big.Int {
	if p == nil || p.p.PaillierSK == nil || p.p.PaillierSK.P == nil {
		return nil
	}
	return new(big.Int).Set(p.p.PaillierSK.P)
}
