// Package malice plays a malicious committee member for tests: it rewrites
// the member's own outbound tss-lib round messages into the malformed
// shapes the inbound checks of package tss refuse (tss/msgcheck.go). The
// tss tests drive it on an in-memory network; kqd built with the kqd_bugs
// tag drives it on its peer links, so a real process can play the member.
// A kqd built without the tag does not link it.
package malice

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"
	"sync"

	"github.com/bnb-chain/tss-lib/v2/common"
	ecdsakeygen "github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	ecdsasigning "github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	eddsasigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/keyquorum/keyquorum/tss"
)

// Shape names one malformed message a member can send.
type Shape string

const (
	// VSSOnePoint opens keygen's Feldman VSS commitment to one point
	// instead of t+1: in tss-lib v2.0.2 it panics in a goroutine keygen's
	// round 3 starts, which would kill every honest process.
	VSSOnePoint Shape = "vss-one-point"
	// VSSThousandPoints opens it to 1,000 points.
	VSSThousandPoints Shape = "vss-1000-points"
	// RangeProofS1 sends an ECDSA signing MtA range proof with S = 1
	// (tss-lib PR #289).
	RangeProofS1 Shape = "range-proof-s1"
	// ModProofGCD sends an ECDSA keygen mod proof whose W shares a factor
	// with the member's Paillier modulus N (tss-lib PR #323).
	ModProofGCD Shape = "mod-proof-gcd"
	// OversizedInt sends a big integer wider than its protocol allows:
	// a keygen share of 64 KiB, an ECDSA signing ciphertext above N^2, an
	// Ed25519 signing commitment of 64 KiB. Signing's are in round 1, so
	// the member never holds its peers' last round and cannot finish the
	// signature alone after they abort.
	OversizedInt Shape = "oversized-int"
)

// Shapes lists every shape.
func Shapes() []Shape {
	return []Shape{VSSOnePoint, VSSThousandPoints, RangeProofS1, ModProofGCD, OversizedInt}
}

// Check returns the check of package tss that refuses shape.
func (s Shape) Check() string {
	switch s {
	case VSSOnePoint, VSSThousandPoints:
		return tss.CheckVSSLength
	case RangeProofS1:
		return tss.CheckRangeProof
	case ModProofGCD:
		return tss.CheckModProof
	case OversizedInt:
		return tss.CheckIntRange
	}
	return ""
}

// tss-lib message types the shapes rewrite.
const (
	ecdsaKeygen1  = "binance.tsslib.ecdsa.keygen.KGRound1Message"
	ecdsaKeygen21 = "binance.tsslib.ecdsa.keygen.KGRound2Message1"
	ecdsaKeygen22 = "binance.tsslib.ecdsa.keygen.KGRound2Message2"
	eddsaKeygen1  = "binance.tsslib.eddsa.keygen.KGRound1Message"
	eddsaKeygen21 = "binance.tsslib.eddsa.keygen.KGRound2Message1"
	eddsaKeygen22 = "binance.tsslib.eddsa.keygen.KGRound2Message2"
	ecdsaSign1    = "binance.tsslib.ecdsa.signing.SignRound1Message1"
	eddsaSign1    = "binance.tsslib.eddsa.signing.SignRound1Message"
)

// Member rewrites one member's outbound messages; safe for concurrent use.
// Sessions are told apart, so one Member may serve many.
type Member struct {
	// vss, if set, forges keygen VSS decommitments (see Outbound).
	vss func(d [][]byte) [][]byte
	// edits rewrite messages by tss-lib type.
	edits map[string]func(proto.Message)

	mu   sync.Mutex
	held map[heldKey]tss.Message
}

type heldKey struct {
	session tss.SessionID
	to      string
}

// New returns a member that sends shape. paillierFactor, a prime factor of
// the member's own Paillier modulus, is needed by ModProofGCD only: a W
// sharing a factor with N can only be made by whoever knows the factors.
func New(shape Shape, paillierFactor *big.Int) (*Member, error) {
	huge := bytes.Repeat([]byte{0xff}, 64<<10)
	switch shape {
	case VSSOnePoint:
		return ForgeVSS(OnePoint), nil
	case VSSThousandPoints:
		return ForgeVSS(ThousandPoints), nil
	case RangeProofS1:
		return Edit(ecdsaSign1, func(m *ecdsasigning.SignRound1Message1) {
			if len(m.RangeProofAlice) > 3 {
				m.RangeProofAlice[3] = []byte{1}
			}
		}), nil
	case ModProofGCD:
		if paillierFactor == nil || paillierFactor.Sign() <= 0 {
			return nil, fmt.Errorf("malice: %s needs a factor of the member's Paillier modulus", shape)
		}
		w := paillierFactor.Bytes()
		return Edit(ecdsaKeygen22, func(m *ecdsakeygen.KGRound2Message2) {
			if len(m.ModProof) > 0 {
				m.ModProof[0] = w
			}
		}), nil
	case OversizedInt:
		f := Edit(ecdsaKeygen21, func(m *ecdsakeygen.KGRound2Message1) { m.Share = huge })
		f.edits[eddsaKeygen21] = edit(func(m *eddsakeygen.KGRound2Message1) { m.Share = huge })
		f.edits[ecdsaSign1] = edit(func(m *ecdsasigning.SignRound1Message1) { m.C = bytes.Repeat([]byte{0xff}, 4096/8) })
		f.edits[eddsaSign1] = edit(func(m *eddsasigning.SignRound1Message) { m.Commitment = huge })
		return f, nil
	}
	return nil, fmt.Errorf("malice: unknown shape %q", shape)
}

// Edit returns a member that rewrites every message of tss-lib type name
// (e.g. "binance.tsslib.ecdsa.signing.SignRound1Message1") with fn.
func Edit[M proto.Message](name string, fn func(M)) *Member {
	return &Member{edits: map[string]func(proto.Message){name: edit(fn)}}
}

func edit[M proto.Message](fn func(M)) func(proto.Message) {
	return func(m proto.Message) { fn(m.(M)) }
}

// ForgeVSS returns a member that opens its keygen VSS commitment to
// forge(D) instead of its real decommitment D (randomness followed by the
// flattened points). To stay consistent it holds back its round-1
// commitment to each recipient until its round-2 decommitment is sent,
// then sends the commitment to forge(D) just ahead of it: the hash check
// passes and only the vector's shape is wrong, as a member running
// modified code would make it.
func ForgeVSS(forge func(d [][]byte) [][]byte) *Member {
	return &Member{vss: forge}
}

// OnePoint keeps the randomness and the first point only.
func OnePoint(d [][]byte) [][]byte { return slices.Clone(d[:min(len(d), 3)]) }

// ThousandPoints pads the vector to 1,000 points by repeating the first.
func ThousandPoints(d [][]byte) [][]byte {
	out := slices.Clone(d)
	for len(d) >= 3 && len(out) < 1+2*1000 {
		out = append(out, d[1], d[2])
	}
	return out
}

// WireName returns the tss-lib message type of a payload, or "".
func WireName(payload []byte) string {
	var a anypb.Any
	if proto.Unmarshal(payload, &a) != nil {
		return ""
	}
	return string(a.MessageName())
}

// Outbound returns what the member sends to recipient to in place of m,
// in order: nothing (a held commitment), m rewritten, or a held message
// followed by m.
func (f *Member) Outbound(m tss.Message, to string) ([]tss.Message, error) {
	name := WireName(m.Payload)
	if fn, ok := f.edits[name]; ok {
		p, err := rewrite(m.Payload, fn)
		if err != nil {
			return nil, err
		}
		m.Payload = p
		return []tss.Message{m}, nil
	}
	if f.vss == nil {
		return []tss.Message{m}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := heldKey{m.Session, to}
	switch name {
	case ecdsaKeygen1, eddsaKeygen1:
		if f.held == nil {
			f.held = map[heldKey]tss.Message{}
		}
		f.held[k] = m
		return nil, nil
	case ecdsaKeygen22, eddsaKeygen22:
		var d [][]byte
		p, err := rewrite(m.Payload, func(pm proto.Message) {
			switch r := pm.(type) {
			case *ecdsakeygen.KGRound2Message2:
				r.DeCommitment = f.vss(r.DeCommitment)
				d = r.DeCommitment
			case *eddsakeygen.KGRound2Message2:
				r.DeCommitment = f.vss(r.DeCommitment)
				d = r.DeCommitment
			}
		})
		if err != nil {
			return nil, err
		}
		m.Payload = p
		r1, ok := f.held[k]
		if !ok {
			return nil, fmt.Errorf("malice: no round-1 message held for %s", to)
		}
		delete(f.held, k)
		c := common.SHA512_256i(common.MultiBytesToBigInts(d)...).Bytes()
		if r1.Payload, err = rewrite(r1.Payload, func(pm proto.Message) {
			switch r := pm.(type) {
			case *ecdsakeygen.KGRound1Message:
				r.Commitment = c
			case *eddsakeygen.KGRound1Message:
				r.Commitment = c
			}
		}); err != nil {
			return nil, err
		}
		return []tss.Message{r1, m}, nil
	}
	return []tss.Message{m}, nil
}

// rewrite decodes payload (an anypb.Any around a tss-lib message), runs fn
// on the message and returns the re-encoded payload.
func rewrite(payload []byte, fn func(proto.Message)) ([]byte, error) {
	var a anypb.Any
	if err := proto.Unmarshal(payload, &a); err != nil {
		return nil, fmt.Errorf("malice: decode: %w", err)
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("malice: decode %s: %w", a.MessageName(), err)
	}
	fn(m)
	if err := a.MarshalFrom(m); err != nil {
		return nil, fmt.Errorf("malice: encode: %w", err)
	}
	out, err := proto.Marshal(&a)
	if err != nil {
		return nil, fmt.Errorf("malice: encode: %w", err)
	}
	return out, nil
}
