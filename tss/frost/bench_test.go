package frost_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/tss/frost"
	"github.com/keyquorum/keyquorum/tss/frost/frosttest"
)

// benchMsg is a 32-byte digest, the size keyquorum clients sign.
var benchMsg = []byte("keyquorum benchmark digest 32 b.")

// cpuMeter reports process CPU time per operation as "cpu-ns/op" when the
// benchmark stops; start it right after the setup.
func cpuMeter(b *testing.B) func() {
	start := processCPU()
	return func() {
		if used := processCPU() - start; used > 0 && b.N > 0 {
			b.ReportMetric(float64(used/time.Nanosecond)/float64(b.N), "cpu-ns/op")
		}
	}
}

// benchRounds precomputes round one for b.N sessions, as a commitment pool
// does, so the timed loop is round two plus aggregation.
func benchRounds(b *testing.B, d *frosttest.Dealt, signers []int) ([][]frost.Nonces, [][]frost.Commitment) {
	b.Helper()
	nonces := make([][]frost.Nonces, b.N)
	commitments := make([][]frost.Commitment, b.N)
	for i := range b.N {
		nonces[i], commitments[i] = session(b, d, signers)
	}
	return nonces, commitments
}

// firstSigners is the share indexes 0 to n-1.
func firstSigners(n int) []int {
	signers := make([]int, n)
	for i := range signers {
		signers[i] = i
	}
	return signers
}

// benchSign times, per signature, every signer's Sign (each derives the
// binding factors, group commitment and challenge itself, as separate
// processes would) and the coordinator's Aggregate, which verifies the
// signature. Large identifiers, as tss-lib's, cost the same as small ones.
func benchSign(b *testing.B, minSigners, n int) {
	d := deal(b, minSigners, n, true)
	signers := firstSigners(minSigners)
	nonces, commitments := benchRounds(b, d, signers)
	shares := make([]frost.SignatureShare, len(signers))
	b.ReportAllocs()
	b.ResetTimer()
	defer cpuMeter(b)()
	for i := range b.N {
		for k, s := range signers {
			var err error
			if shares[k], err = frost.Sign(d.Shares[s], nonces[i][k], benchMsg, commitments[i]); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := d.Group.Aggregate(benchMsg, commitments[i], shares); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSign2of3(b *testing.B) { benchSign(b, 2, 3) }
func BenchmarkSign3of5(b *testing.B) { benchSign(b, 3, 5) }

// BenchmarkCommit times one signer's round one.
func BenchmarkCommit(b *testing.B) {
	d := deal(b, 2, 3, true)
	b.ReportAllocs()
	defer cpuMeter(b)()
	for b.Loop() {
		n, _, err := frost.Commit(d.Shares[0], rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		n.Discard()
	}
}

// benchAggregate times the coordinator alone: Aggregate, including its
// check of the signature under the group key.
func benchAggregate(b *testing.B, minSigners, n int) {
	d := deal(b, minSigners, n, true)
	signers := firstSigners(minSigners)
	nonces, commitments := session(b, d, signers)
	shares := make([]frost.SignatureShare, len(signers))
	for k, s := range signers {
		var err error
		if shares[k], err = frost.Sign(d.Shares[s], nonces[k], benchMsg, commitments); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	defer cpuMeter(b)()
	for b.Loop() {
		if _, err := d.Group.Aggregate(benchMsg, commitments, shares); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAggregateVerify2of3(b *testing.B) { benchAggregate(b, 2, 3) }
func BenchmarkAggregateVerify3of5(b *testing.B) { benchAggregate(b, 3, 5) }

// BenchmarkFullProtocol2of3 times both rounds, commitments included, with
// the commitments decoded from bytes as a coordinator receives them, and a
// final crypto/ed25519 check: the no-pool fallback path.
func BenchmarkFullProtocol2of3(b *testing.B) {
	d := deal(b, 2, 3, true)
	signers := []int{0, 1}
	shares := make([]frost.SignatureShare, len(signers))
	b.ReportAllocs()
	defer cpuMeter(b)()
	for b.Loop() {
		nonces, cs := session(b, d, signers)
		for k := range cs {
			enc, _ := cs[k].MarshalBinary()
			var err error
			if cs[k], err = frost.ParseCommitment(enc); err != nil {
				b.Fatal(err)
			}
		}
		for k, s := range signers {
			var err error
			if shares[k], err = frost.Sign(d.Shares[s], nonces[k], benchMsg, cs); err != nil {
				b.Fatal(err)
			}
		}
		sig, err := d.Group.Aggregate(benchMsg, cs, shares)
		if err != nil || !ed25519.Verify(d.Public, benchMsg, sig) {
			b.Fatal("signature does not verify", err)
		}
	}
}

// BenchmarkParseCommitment times the coordinator's decoding of one
// commitment: two points, each checked for canonical encoding and
// prime-order subgroup membership.
func BenchmarkParseCommitment(b *testing.B) {
	d := deal(b, 2, 3, true)
	_, cs := session(b, d, []int{0})
	enc, _ := cs[0].MarshalBinary()
	b.ReportAllocs()
	defer cpuMeter(b)()
	for b.Loop() {
		if _, err := frost.ParseCommitment(enc); err != nil {
			b.Fatal(err)
		}
	}
}
