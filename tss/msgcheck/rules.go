package msgcheck

import (
	ecdsakeygen "github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	ecdsaresharing "github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	ecdsasigning "github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	eddsaresharing "github.com/bnb-chain/tss-lib/v2/eddsa/resharing"
	eddsasigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
)

// ready reports whether in's check has what it needs. Keygen's round-2
// broadcast (mod proof) and round-3 message (Paillier proof) are checked
// against the sender's modulus from its round-1 message.
func (c *Checker[M]) ready(in inbound) bool {
	switch in.msg.Content().(type) {
	case *ecdsakeygen.KGRound2Message2, *ecdsakeygen.KGRound3Message:
		return c.paillierN[in.from] != nil
	}
	return true
}

// content dispatches to the validator of in's message type; one case per
// tss-lib message type keyquorum runs.
func (c *Checker[M]) content(in inbound) *fault {
	n := c.paillierN[in.from]
	switch m := in.msg.Content().(type) {
	// ECDSA keygen.
	case *ecdsakeygen.KGRound1Message:
		return c.ecdsaKeygen1(in, m)
	case *ecdsakeygen.KGRound2Message1:
		return first(routed(in, false), c.scalar(m.GetShare(), "share"), c.facProof(m.GetFacProof()))
	case *ecdsakeygen.KGRound2Message2:
		return first(routed(in, true), c.vss(m.GetDeCommitment(), "VSS decommitment"), modProof(m.GetModProof(), n))
	case *ecdsakeygen.KGRound3Message:
		return first(routed(in, true), paillierProof(m.GetPaillierProof(), n))

	// EdDSA keygen.
	case *eddsakeygen.KGRound1Message:
		return first(routed(in, true), commitment(m.GetCommitment(), "commitment"))
	case *eddsakeygen.KGRound2Message1:
		return first(routed(in, false), c.scalar(m.GetShare(), "share"))
	case *eddsakeygen.KGRound2Message2:
		return first(routed(in, true), c.vss(m.GetDeCommitment(), "VSS decommitment"),
			c.schnorr(m.GetProofAlphaX(), m.GetProofAlphaY(), "proof", m.GetProofT()))

	// ECDSA signing. Alice's ciphertext and proof are under the sender's
	// modulus; Bob's replies under this node's.
	case *ecdsasigning.SignRound1Message1:
		_, f := intBelow(m.GetC(), square(n), 2*modulusBits, "ciphertext")
		return first(routed(in, false), f, c.rangeProofAlice(m.GetRangeProofAlice(), n))
	case *ecdsasigning.SignRound1Message2:
		return first(routed(in, true), commitment(m.GetCommitment(), "commitment"))
	case *ecdsasigning.SignRound2Message:
		_, f1 := intBelow(m.GetC1(), square(c.selfN), 2*modulusBits, "ciphertext 1")
		_, f2 := intBelow(m.GetC2(), square(c.selfN), 2*modulusBits, "ciphertext 2")
		return first(routed(in, false), f1, f2,
			c.proofBob(m.GetProofBob(), false, c.selfN), c.proofBob(m.GetProofBobWc(), true, c.selfN))
	case *ecdsasigning.SignRound3Message:
		return first(routed(in, true), c.scalar(m.GetTheta(), "theta"))
	case *ecdsasigning.SignRound4Message:
		return first(routed(in, true), c.decommitment(m.GetDeCommitment(), 1, false, "decommitment"),
			c.schnorr(m.GetProofAlphaX(), m.GetProofAlphaY(), "proof", m.GetProofT()))
	case *ecdsasigning.SignRound5Message:
		return first(routed(in, true), commitment(m.GetCommitment(), "commitment"))
	case *ecdsasigning.SignRound6Message:
		return first(routed(in, true), c.decommitment(m.GetDeCommitment(), 2, false, "decommitment"),
			c.schnorr(m.GetProofAlphaX(), m.GetProofAlphaY(), "proof", m.GetProofT()),
			c.schnorr(m.GetVProofAlphaX(), m.GetVProofAlphaY(), "V proof", m.GetVProofT(), m.GetVProofU()))
	case *ecdsasigning.SignRound7Message:
		return first(routed(in, true), commitment(m.GetCommitment(), "commitment"))
	case *ecdsasigning.SignRound8Message:
		return first(routed(in, true), c.decommitment(m.GetDeCommitment(), 2, false, "decommitment"))
	case *ecdsasigning.SignRound9Message:
		return first(routed(in, true), c.scalar(m.GetS(), "s"))

	// EdDSA signing.
	case *eddsasigning.SignRound1Message:
		return first(routed(in, true), commitment(m.GetCommitment(), "commitment"))
	case *eddsasigning.SignRound2Message:
		return first(routed(in, true), c.decommitment(m.GetDeCommitment(), 1, false, "decommitment"),
			c.schnorr(m.GetProofAlphaX(), m.GetProofAlphaY(), "proof", m.GetProofT()))
	case *eddsasigning.SignRound3Message:
		return first(routed(in, true), c.scalar(m.GetS(), "s"))

	// ECDSA resharing.
	case *ecdsaresharing.DGRound1Message:
		return first(routed(in, true), c.point(m.GetEcdsaPubX(), m.GetEcdsaPubY(), "public key"),
			commitment(m.GetVCommitment(), "commitment"), commitment(m.GetSsid(), "ssid"))
	case *ecdsaresharing.DGRound2Message1:
		return c.ecdsaReshare2(in, m)
	case *ecdsaresharing.DGRound2Message2:
		return routed(in, true)
	case *ecdsaresharing.DGRound3Message1:
		return first(routed(in, false), c.scalar(m.GetShare(), "share"))
	case *ecdsaresharing.DGRound3Message2:
		return first(routed(in, true), c.vss(m.GetVDecommitment(), "VSS decommitment"))
	case *ecdsaresharing.DGRound4Message1:
		return first(routed(in, false), c.facProof(m.GetFacProof()))
	case *ecdsaresharing.DGRound4Message2:
		return routed(in, true)

	// EdDSA resharing.
	case *eddsaresharing.DGRound1Message:
		return first(routed(in, true), c.point(m.GetEddsaPubX(), m.GetEddsaPubY(), "public key"),
			commitment(m.GetVCommitment(), "commitment"))
	case *eddsaresharing.DGRound2Message:
		return routed(in, true)
	case *eddsaresharing.DGRound3Message1:
		return first(routed(in, false), c.scalar(m.GetShare(), "share"))
	case *eddsaresharing.DGRound3Message2:
		return first(routed(in, true), c.vss(m.GetVDecommitment(), "VSS decommitment"))
	case *eddsaresharing.DGRound4Message:
		return routed(in, true)
	}
	return faultf(CheckUnknown, "no check for this message type")
}

// ecdsaKeygen1 checks the round-1 broadcast (the sizes keygen's round 2
// checks too, so they fail here with the culprit's name) and records the
// sender's Paillier modulus for its later proofs.
func (c *Checker[M]) ecdsaKeygen1(in inbound, m *ecdsakeygen.KGRound1Message) *fault {
	n, f := modulus(m.GetPaillierN(), "Paillier modulus")
	if f = first(routed(in, true), f, commitment(m.GetCommitment(), "commitment"),
		ntildeParams(m.GetNTilde(), m.GetH1(), m.GetH2()),
		dlnProof(m.GetDlnproof_1(), "DLN proof 1"), dlnProof(m.GetDlnproof_2(), "DLN proof 2")); f != nil {
		return f
	}
	c.paillierN[in.from] = n
	return nil
}

// ecdsaReshare2 checks a new-committee member's keys: v2.0.2's resharing
// takes the Paillier modulus and N-tilde without keygen's 2048-bit check.
func (c *Checker[M]) ecdsaReshare2(in inbound, m *ecdsaresharing.DGRound2Message1) *fault {
	n, f := modulus(m.GetPaillierN(), "Paillier modulus")
	if f != nil {
		return first(routed(in, true), f)
	}
	return first(routed(in, true), ntildeParams(m.GetNTilde(), m.GetH1(), m.GetH2()),
		modProof(m.GetModProof(), n),
		dlnProof(m.GetDlnproof_1(), "DLN proof 1"), dlnProof(m.GetDlnproof_2(), "DLN proof 2"))
}

// first returns the first fault. Every argument is evaluated, so checks
// that must not run after a failed one (a nil modulus) sit in their own
// branch.
func first(fs ...*fault) *fault {
	for _, f := range fs {
		if f != nil {
			return f
		}
	}
	return nil
}
