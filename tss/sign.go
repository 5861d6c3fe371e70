package tss

import (
	"context"
	"fmt"
	"math/big"
	"slices"

	"github.com/bnb-chain/tss-lib/v2/common"
	ecdsasigning "github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	eddsasigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	decredecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/keyquorum/keyquorum/tss/scheme"
)

// ecdsaDigestLen is the only accepted ECDSA message length: a 32-byte digest.
const ecdsaDigestLen = scheme.ECDSADigestLen

// SignRequest describes one threshold signature. Every committee member runs
// Sign with the same request (from a committed Raft entry).
type SignRequest struct {
	Session SessionID
	Share   *Share
	// Committee is exactly Threshold()+1 node IDs from the share's parties,
	// including this node.
	Committee []string
	// Message is a 32-byte digest below the secp256k1 group order for
	// ECDSA, or the message itself (at most MaxEd25519MessageBytes) for
	// Ed25519.
	Message []byte
}

// Sign runs this member's side of a threshold signature and returns it: for
// ECDSA an ASN.1 DER signature with low s, for Ed25519 a 64-byte RFC 8032
// signature. The signature is verified against the share's public key
// before it is returned. Errors: ErrInvalidRequest, ErrBusy,
// ErrSessionExists, or an *AbortError.
func (e *Engine) Sign(ctx context.Context, req SignRequest) ([]byte, error) {
	if err := e.checkCommittee(req.Share, req.Committee); err != nil {
		return nil, err
	}
	sh := req.Share
	s, err := e.newSignSession(req)
	if err != nil {
		return nil, err
	}
	res, err := e.run(ctx, s)
	if err != nil {
		return nil, err
	}
	sig, err := encodeSignature(sh.alg, res.(*common.SignatureData))
	if err != nil {
		return nil, err
	}
	if !Verify(sh.alg, sh.pub, req.Message, sig) {
		return nil, &AbortError{Session: req.Session, Err: fmt.Errorf("tss: signature does not verify")}
	}
	return sig, nil
}

// checkCommittee validates a signing committee against this node's share.
func (e *Engine) checkCommittee(sh *Share, committee []string) error {
	if sh == nil || sh.wiped {
		return invalidf("no share")
	}
	if sh.self != e.self {
		return invalidf("share belongs to %q, not this node %q", sh.self, e.self)
	}
	if len(committee) != sh.threshold+1 {
		return invalidf("committee has %d members, want threshold+1 = %d", len(committee), sh.threshold+1)
	}
	if !slices.Contains(committee, e.self) {
		return invalidf("this node %q is not in the committee", e.self)
	}
	for _, m := range committee {
		if sh.keys[m] == nil {
			return invalidf("committee member %q holds no share of this key", m)
		}
	}
	return nil
}

// encodeSignature turns tss-lib's output into the wire format.
func encodeSignature(alg Algorithm, d *common.SignatureData) ([]byte, error) {
	if d == nil {
		return nil, fmt.Errorf("tss: empty signature")
	}
	switch alg {
	case ECDSASecp256k1:
		var r, s secp256k1.ModNScalar
		if len(d.R) > 32 || len(d.S) > 32 || r.SetByteSlice(d.R) || s.SetByteSlice(d.S) || r.IsZero() || s.IsZero() {
			return nil, fmt.Errorf("tss: malformed ECDSA signature")
		}
		// Serialize emits DER and canonicalizes s to the lower half.
		return decredecdsa.NewSignature(&r, &s).Serialize(), nil
	case Ed25519:
		if len(d.Signature) != 64 {
			return nil, fmt.Errorf("tss: malformed Ed25519 signature")
		}
		return slices.Clone(d.Signature), nil
	}
	return nil, fmt.Errorf("tss: unknown algorithm")
}

// newSignSession checks the message and builds the signing party. For ECDSA
// the party keeps a pointer to the message integer (read from round 5 on);
// it is returned in s.message so a parked session can bind it later.
func (e *Engine) newSignSession(req SignRequest) (*session, error) {
	sh := req.Share
	ec, _ := curveFor(sh.alg)
	order := ec.Params().N
	c, err := newCommittee(req.Committee, sh.keyOf, order)
	if err != nil {
		return nil, err
	}
	params := tsslib.NewParameters(ec, tsslib.NewPeerContext(c.sorted), c.byNode[e.self], len(c.nodes), sh.threshold)
	end := make(chan *common.SignatureData, 1)
	var s *session
	var party tsslib.Party
	switch sh.alg {
	case ECDSASecp256k1:
		if err := CheckMessage(ECDSASecp256k1, req.Message); err != nil {
			return nil, err
		}
		m := new(big.Int).SetBytes(req.Message)
		s = newSession(req.Session, "sign", e.self, solo(c, e.self), e.tr, e.log, ecdsaSignPrefix, ecdsaSignTypes)
		s.message = m
		// BuildLocalSaveDataSubset (inside NewLocalParty) panics on a member
		// missing from the share; checked above, recovered here regardless.
		err = intoLib("new sign party", c, nil, func() *tsslib.Error {
			party = ecdsasigning.NewLocalParty(m, params, *sh.ecdsa, s.out, end, ecdsaDigestLen)
			return nil
		})
	case Ed25519:
		if len(req.Message) > e.cfg.MaxEd25519MessageBytes {
			return nil, invalidf("Ed25519 message of %d bytes exceeds %d", len(req.Message), e.cfg.MaxEd25519MessageBytes)
		}
		m := new(big.Int).SetBytes(req.Message)
		s = newSession(req.Session, "sign", e.self, solo(c, e.self), e.tr, e.log, eddsaSignPrefix, eddsaSignTypes)
		// fullBytesLen = len(message) makes tss-lib re-expand the integer
		// with its leading zero bytes before hashing.
		err = intoLib("new sign party", c, nil, func() *tsslib.Error {
			party = eddsasigning.NewLocalParty(m, params, *sh.eddsa, s.out, end, len(req.Message))
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	s.check = newChecker(sh.alg, 0)
	s.check.SetModuli(signingModuli(sh, req.Committee))
	s.parties = []tsslib.Party{party}
	s.drain = func(ctx context.Context) { drainParty(ctx, s, end) }
	return s, nil
}
