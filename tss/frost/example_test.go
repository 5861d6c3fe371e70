package frost_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"

	"github.com/keyquorum/keyquorum/tss/frost"
	"github.com/keyquorum/keyquorum/tss/frost/frosttest"
)

// A 2-of-3 signature: round one ahead of time, round two once the message
// is known, then the coordinator aggregates.
func Example() {
	dealt, err := frosttest.Deal(rand.Reader, 2, frosttest.SmallIDs(3))
	if err != nil {
		panic(err)
	}
	signers := []*frost.KeyShare{dealt.Shares[0], dealt.Shares[2]}

	// Round one: each signer keeps its nonces and publishes its commitment.
	var nonces []frost.Nonces
	var commitments []frost.Commitment
	for _, ks := range signers {
		n, c, err := frost.Commit(ks, rand.Reader)
		if err != nil {
			panic(err)
		}
		nonces, commitments = append(nonces, n), append(commitments, c)
	}

	// Round two: each signer signs over the same message and commitment list.
	msg := []byte("keyquorum")
	var shares []frost.SignatureShare
	for i, ks := range signers {
		s, err := frost.Sign(ks, nonces[i], msg, commitments)
		if err != nil {
			panic(err)
		}
		shares = append(shares, s)
	}

	// The coordinator verifies and aggregates; a bad share is named in an
	// *frost.InvalidShareError.
	sig, err := dealt.Group.Aggregate(msg, commitments, shares)
	if err != nil {
		panic(err)
	}
	fmt.Println(ed25519.Verify(dealt.Group.PublicKey(), msg, sig))
	// Output: true
}
