package msgcheck

import (
	"errors"
	"math/big"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/crypto/dlnproof"
	"github.com/bnb-chain/tss-lib/v2/crypto/paillier"
	ecdsakeygen "github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// testIn is an inbound message as a session hands it to its Checker.
type testIn struct {
	from string
	msg  tsslib.ParsedMessage
}

func (in testIn) Sender() string               { return in.from }
func (in testIn) Parsed() tsslib.ParsedMessage { return in.msg }

func parsedFrom(node string, bcast bool, content tsslib.MessageContent) testIn {
	pid := tsslib.NewPartyID(node, node, big.NewInt(7))
	meta := tsslib.MessageRouting{From: pid, IsBroadcast: bcast}
	return testIn{from: node, msg: tsslib.NewMessage(meta, content, tsslib.NewMessageWrapper(meta, content))}
}

// newSecp256k1 returns an ECDSA keygen session's Checker for threshold 1.
func newSecp256k1() *Checker[testIn] { return New[testIn](tsslib.S256(), tsslib.Secp256k1, 1) }

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
	c := newSecp256k1()
	if got, err := c.Admit(r3); err != nil || len(got) != 0 {
		t.Fatalf("round 3 first: %d ready, err %v; want it held", len(got), err)
	}
	got, err := c.Admit(r1)
	if err != nil || len(got) != 2 || got[0].msg != r1.msg || got[1].msg != r3.msg {
		t.Fatalf("round 1: %d ready, err %v; want round 1 then round 3", len(got), err)
	}
	// A Paillier proof value at or above the sender's modulus fails.
	c = newSecp256k1()
	bad := parsedFrom("node-b", true, &ecdsakeygen.KGRound3Message{PaillierProof: repeated(paillier.ProofIters, n.Bytes())})
	if _, err := c.Admit(r1); err != nil {
		t.Fatal(err)
	}
	var ce *CheckError
	if _, err := c.Admit(bad); !errors.As(err, &ce) || ce.Check != CheckIntRange || ce.Member != "node-b" {
		t.Fatalf("proof value = N: err = %v", err)
	}
}

// The parsed sender must be the member the transport authenticated.
func TestCheckerRejectsOtherSender(t *testing.T) {
	in := parsedFrom("node-b", false, &ecdsakeygen.KGRound2Message1{Share: []byte{1}})
	in.from = "node-c"
	var ce *CheckError
	if _, err := newSecp256k1().Admit(in); !errors.As(err, &ce) || ce.Check != CheckSender || ce.Member != "node-c" {
		t.Fatalf("err = %v, want a sender check failure naming node-c", err)
	}
}
