package tss_test

import (
	"context"
	"math/big"
	"testing"

	ecdsaresharing "github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	ecdsasigning "github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/malice"
	"github.com/keyquorum/keyquorum/tss/tsstest"
)

var honestAB = []string{"node-a", "node-b"}

// malformedCase has a member send one malformed message, which check
// must catch.
type malformedCase struct {
	name  string
	check string
	rule  func(t *testing.T, net *tsstest.Network) tsstest.Rule
}

// maliciousCluster starts engines for members on a network under the
// rule that rule makes for it; the network closes when t ends.
func maliciousCluster(t *testing.T, rule func(*testing.T, *tsstest.Network) tsstest.Rule) map[string]*tss.Engine {
	t.Helper()
	net, engines, err := tsstest.NewCluster(maliciousConfig(), members...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(net.Close)
	net.SetRule(rule(t, net))
	return engines
}

// shaped is a case rule: bad sends its messages in shape s.
func shaped(bad string, s malice.Shape) func(*testing.T, *tsstest.Network) tsstest.Rule {
	return func(t *testing.T, net *tsstest.Network) tsstest.Rule { return shape(t, net, bad, s, nil) }
}

// keygenRejects runs, per case, a keygen of alg among members in which
// node-c's messages are bent by the case's rule, and wants node-c caught
// by the case's check and the honest members refusing.
func keygenRejects(t *testing.T, alg tss.Algorithm, pp map[string]int, cases []malformedCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			engines := maliciousCluster(t, tc.rule)
			sid := tss.NewSessionID("test", "keygen", 1, t.Name(), 0)
			errs := attempt(members, "node-c", keygenOn(t, engines, alg, sid, members, pp, nil))
			wantRejected(t, errs, honestAB, "node-c", tc.check)
		})
	}
}

// Each case has node-c send one malformed message shape during an Ed25519
// keygen. The one-point decommitment would otherwise panic inside a
// goroutine tss-lib starts in round 3 and kill this test binary; that the
// binary survives is part of the proof.
func TestEd25519KeygenRejectsMalformedMessages(t *testing.T) {
	cases := []malformedCase{
		{"one-point decommitment", tss.CheckVSSLength, shaped("node-c", malice.VSSOnePoint)},
		{"1000-point VSS vector", tss.CheckVSSLength, shaped("node-c", malice.VSSThousandPoints)},
		{"oversized share", tss.CheckIntRange, shaped("node-c", malice.OversizedInt)},
		{"point off the curve", tss.CheckPoint, func(t *testing.T, net *tsstest.Network) tsstest.Rule {
			return forgeVSS(t, net, "node-c", func(d [][]byte) [][]byte {
				d[len(d)-1] = []byte{7}
				return d
			})
		}},
		{"commitment tss-lib's ValidateBasic refuses", tss.CheckParse, func(t *testing.T, _ *tsstest.Network) tsstest.Rule {
			return tamper(t, "node-c", "binance.tsslib.eddsa.keygen.KGRound1Message", &eddsakeygen.KGRound1Message{},
				func(m *eddsakeygen.KGRound1Message) { m.Commitment = nil })
		}},
		{"broadcast sent point-to-point", tss.CheckRouting, func(t *testing.T, _ *tsstest.Network) tsstest.Rule {
			return func(m *tss.Message, _ string) bool {
				if m.From == "node-c" && wireName(m.Payload) == "binance.tsslib.eddsa.keygen.KGRound1Message" {
					m.Broadcast = false
				}
				return true
			}
		}},
	}
	keygenRejects(t, tss.Ed25519, nil, cases)
}

// After node-c is caught, the next attempt without it makes a key that signs.
func TestRetryWithoutCulpritSigns(t *testing.T) {
	engines := maliciousCluster(t, shaped("node-c", malice.VSSOnePoint))
	sid := tss.NewSessionID("test", "keygen", 1, t.Name(), 0)
	errs := attempt(members, "node-c", keygenOn(t, engines, tss.Ed25519, sid, members, nil, nil))
	wantRejected(t, errs, honestAB, "node-c", tss.CheckVSSLength)

	shares := map[string]*tss.Share{}
	sid = tss.NewSessionID("test", "keygen", 2, t.Name(), 0)
	for id, err := range attempt(honestAB, "", keygenOn(t, engines, tss.Ed25519, sid, honestAB, nil, shares)) {
		if err != nil {
			t.Fatalf("retry keygen on %s: %v", id, err)
		}
	}
	msg := []byte("signed without the culprit")
	sig := mustSign(t, &fixture{engines: engines, shares: shares}, newSID(t), honestAB, msg)
	if !tss.Verify(tss.Ed25519, shares["node-a"].PublicKey(), msg, sig) {
		t.Fatal("signature does not verify")
	}
}

// ECDSA keygen: a one-point decommitment (the goroutine panic of keygen
// round 3) and a mod proof whose W shares a factor with N.
func TestECDSAKeygenRejectsMalformedMessages(t *testing.T) {
	pp := map[string]int{"node-a": 1, "node-b": 2, "node-c": 3}
	cases := []malformedCase{
		{"one-point decommitment", tss.CheckVSSLength, shaped("node-c", malice.VSSOnePoint)},
		{"mod proof W with gcd(W, N) != 1", tss.CheckModProof, func(t *testing.T, net *tsstest.Network) tsstest.Rule {
			return shape(t, net, "node-c", malice.ModProofGCD, paillierFactor(t, pp["node-c"]))
		}},
	}
	keygenRejects(t, tss.ECDSASecp256k1, pp, cases)
}

// ECDSA signing: node-b's MtA range proof has S = 1 (tss-lib PR #289), or
// a ciphertext wider than N^2.
func TestECDSASignRejectsMalformedMessages(t *testing.T) {
	f := sharedKey(t, tss.ECDSASecp256k1)
	const r1 = "binance.tsslib.ecdsa.signing.SignRound1Message1"
	cases := []malformedCase{
		{"range proof S = 1", tss.CheckRangeProof, shaped("node-b", malice.RangeProofS1)},
		{"range proof S1 = S2", tss.CheckRangeProof, func(t *testing.T, _ *tsstest.Network) tsstest.Rule {
			return tamper(t, "node-b", r1, &ecdsasigning.SignRound1Message1{}, func(m *ecdsasigning.SignRound1Message1) {
				m.RangeProofAlice[5] = m.RangeProofAlice[4]
			})
		}},
		{"ciphertext above N^2", tss.CheckIntRange, shaped("node-b", malice.OversizedInt)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			engines := maliciousCluster(t, tc.rule)
			sid, digest := newSID(t), randomBytes(t, 32)
			errs := attempt(committees[0], "node-b", func(ctx context.Context, id string) error {
				_, err := engines[id].Sign(ctx, tss.SignRequest{Session: sid, Share: f.shares[id], Committee: committees[0], Message: digest})
				return err
			})
			wantRejected(t, errs, []string{"node-a"}, "node-b", tc.check)
		})
	}
}

// ECDSA resharing: new member node-c announces a 1024-bit Paillier modulus,
// which tss-lib v2.0.2's resharing would accept.
func TestECDSAReshareRejectsSmallPaillierModulus(t *testing.T) {
	f := sharedKey(t, tss.ECDSASecp256k1)
	engines := maliciousCluster(t, func(t *testing.T, _ *tsstest.Network) tsstest.Rule {
		return tamper(t, "node-c", "binance.tsslib.ecdsa.resharing.DGRound2Message1", &ecdsaresharing.DGRound2Message1{},
			func(m *ecdsaresharing.DGRound2Message1) {
				n := new(big.Int).SetBytes(m.PaillierN[:128])
				m.PaillierN = n.SetBit(n, 0, 1).Bytes()
			})
	})
	pp := map[string]int{"node-a": 4, "node-b": 5, "node-c": 3}
	reqs := reshareReqs(t, f.shares, []string{"node-b", "node-c"}, members, 1,
		func(id string) *tss.PreParams { return loadPreParams(t, pp[id]) })
	errs := attempt(members, "node-c", func(ctx context.Context, id string) error {
		_, err := engines[id].Reshare(ctx, reqs[id])
		return err
	})
	wantRejected(t, errs, honestAB, "node-c", tss.CheckModulusSize)
}
