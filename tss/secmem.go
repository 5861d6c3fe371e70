package tss

import (
	"errors"
	"math/big"

	ecdsakeygen "github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
)

// Words hands out memory for the secret integer x. It returns a zeroed
// slice of exactly n words that the caller's allocator owns, such as pages
// excluded from core dumps and locked against swap. x is the integer that
// will point at them, so the allocator can tie the words' lifetime to x's
// (runtime.AddCleanup): tss-lib sessions hold the integers themselves, not
// the Share.
type Words func(x *big.Int, n int) []big.Word

// MoveSecrets copies the share's secret integers (the secret share xi and,
// for ECDSA, the Paillier private key and the ring-Pedersen secrets) into
// memory from alloc and zeroes the heap words they occupied. tss-lib reads
// these integers through the same pointers, so signing uses the moved
// copies; values it derives from them while signing are ordinary heap
// allocations and are not covered. Call it before the share is shared with
// any goroutine. The memory must outlive every holder of the integers.
func (s *Share) MoveSecrets(alloc Words) error {
	if s == nil || s.wiped {
		return errors.New("tss: share wiped")
	}
	moveInts(s.secretInts(), alloc)
	return nil
}

// ReleaseSecrets wipes the share (see Wipe) and then points every secret
// integer at no memory at all, so nothing in the share still refers to the
// memory MoveSecrets placed it in. The share is unusable afterwards.
func (s *Share) ReleaseSecrets() {
	if s == nil {
		return
	}
	s.Wipe()
	detachInts(s.secretInts())
}

func (s *Share) secretInts() []*big.Int {
	var xs []*big.Int
	if s.ecdsa != nil {
		xs = append(preParamsSecrets(&s.ecdsa.LocalPreParams), s.ecdsa.Xi)
	}
	if s.eddsa != nil {
		xs = append(xs, s.eddsa.Xi)
	}
	return xs
}

// MoveSecrets is Share.MoveSecrets for pre-parameters: the Paillier private
// key and the safe primes and exponents of the ring-Pedersen parameters.
// A keygen's share keeps pointers to these same integers, so release them
// only once no keygen or share made from them is in use.
func (pp *PreParams) MoveSecrets(alloc Words) error {
	if err := pp.Validate(); err != nil {
		return err
	}
	moveInts(preParamsSecrets(&pp.p), alloc)
	return nil
}

// Wipe zeroes the pre-parameters' secret integers in place, as far as Go
// allows. They are unusable afterwards.
func (pp *PreParams) Wipe() {
	if pp == nil {
		return
	}
	zero(preParamsSecrets(&pp.p)...)
}

// ReleaseSecrets wipes the pre-parameters and detaches their secret
// integers from the memory MoveSecrets placed them in.
func (pp *PreParams) ReleaseSecrets() {
	if pp == nil {
		return
	}
	xs := preParamsSecrets(&pp.p)
	zero(xs...)
	detachInts(xs)
}

func preParamsSecrets(lp *ecdsakeygen.LocalPreParams) []*big.Int {
	xs := []*big.Int{lp.Alpha, lp.Beta, lp.P, lp.Q}
	if sk := lp.PaillierSK; sk != nil {
		xs = append(xs, sk.LambdaN, sk.PhiN, sk.P, sk.Q)
	}
	return xs
}

// moveInts re-homes each integer's words. The destination has cap equal to
// its length, so an in-place operation that needs more room reallocates on
// the heap instead of writing past the slice into a neighbour's words.
func moveInts(xs []*big.Int, alloc Words) {
	for _, x := range xs {
		if x == nil {
			continue
		}
		old := x.Bits()
		if len(old) == 0 {
			continue
		}
		dst := alloc(x, len(old))[:len(old):len(old)]
		copy(dst, old)
		neg := x.Sign() < 0
		clear(old[:cap(old)])
		x.SetBits(dst)
		if neg {
			x.Neg(x)
		}
	}
}

// detachInts leaves each integer zero with no backing array.
func detachInts(xs []*big.Int) {
	for _, x := range xs {
		if x != nil {
			x.SetBits(nil)
		}
	}
}
