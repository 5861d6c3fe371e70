package tss

import (
	"errors"
	"math/big"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto/dlnproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
	ecdsakeygen "github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

func parsedFrom(node string, bcast bool, content tsslib.MessageContent) inbound {
	pid := tsslib.NewPartyID(node, node, big.NewInt(7))
	meta := tsslib.MessageRouting{From: pid, IsBroadcast: bcast}
	return inbound{from: node, msg: tsslib.NewMessage(meta, content, tsslib.NewMessageWrapper(meta, content))}
}

func repeated(n int, b []byte) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// A keygen round-3 message that arrives before its sender's round-1
// message waits for it (its proof is checked against that modulus), and
// both go to tss-lib in order once round 1 is in. Transports need not keep
// a sender's messages in order.
func TestCheckerWaitsForSendersModulus(t *testing.T) {
	n := new(big.Int).Lsh(big.NewInt(1), modulusBits-1)
	n.Add(n, big.NewInt(12345)) // odd, 2048 bits; no proof is verified here
	r1 := parsedFrom("node-b", true, &ecdsakeygen.KGRound1Message{
		Commitment: []byte{1}, PaillierN: n.Bytes(), NTilde: n.Bytes(), H1: []byte{2}, H2: []byte{3},
		Dlnproof_1: repeated(2+2*dlnproof.Iterations, []byte{5}),
		Dlnproof_2: repeated(2+2*dlnproof.Iterations, []byte{5}),
	})
	r3 := parsedFrom("node-b", true, &ecdsakeygen.KGRound3Message{PaillierProof: repeated(paillier.ProofIters, []byte{9})})
	c := newChecker(ECDSASecp256k1, 1)
	if got, err := c.admit(r3); err != nil || len(got) != 0 {
		t.Fatalf("round 3 first: %d ready, err %v; want it held", len(got), err)
	}
	got, err := c.admit(r1)
	if err != nil || len(got) != 2 || got[0].msg != r1.msg || got[1].msg != r3.msg {
		t.Fatalf("round 1: %d ready, err %v; want round 1 then round 3", len(got), err)
	}
	// A Paillier proof value at or above the sender's modulus fails.
	c = newChecker(ECDSASecp256k1, 1)
	bad := parsedFrom("node-b", true, &ecdsakeygen.KGRound3Message{PaillierProof: repeated(paillier.ProofIters, n.Bytes())})
	if _, err := c.admit(r1); err != nil {
		t.Fatal(err)
	}
	var ce *CheckError
	if _, err := c.admit(bad); !errors.As(err, &ce) || ce.Check != CheckIntRange || ce.Member != "node-b" {
		t.Fatalf("proof value = N: err = %v", err)
	}
}

// The parsed sender must be the member the transport authenticated.
func TestCheckerRejectsOtherSender(t *testing.T) {
	in := parsedFrom("node-b", false, &ecdsakeygen.KGRound2Message1{Share: []byte{1}})
	in.from = "node-c"
	var ce *CheckError
	if _, err := newChecker(ECDSASecp256k1, 1).admit(in); !errors.As(err, &ce) || ce.Check != CheckSender || ce.Member != "node-c" {
		t.Fatalf("err = %v, want a sender check failure naming node-c", err)
	}
}
