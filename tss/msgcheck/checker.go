// Package msgcheck checks every round message a party receives against its
// round's rules and proofs before tss-lib sees it, and a failure names the
// culprit: a *CheckError names the member the transport authenticated as
// the sender and the check its message failed. Package tss runs one Checker
// per session; tss-lib stays confined to tss and its subpackages.
package msgcheck

import (
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"math/big"

	"github.com/bnb-chain/tss-lib/v2/crypto/commitments"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// ErrMessageRejected is wrapped by every *CheckError.
var ErrMessageRejected = errors.New("tss: message failed a protocol check")

// Names of the checks a *CheckError reports. They are stable: a blame
// record may store them.
const (
	// CheckSender: the parsed sender is not the authenticated member.
	CheckSender = "sender"
	// CheckRouting: a broadcast type sent point-to-point or the reverse.
	CheckRouting = "routing"
	// CheckUnknown: a message type the protocol does not use.
	CheckUnknown = "unknown-type"
	// CheckShape: a list field (proof, decommitment) of the wrong length.
	CheckShape = "shape"
	// CheckVSSLength: a Feldman VSS decommitment without exactly t+1 points.
	CheckVSSLength = "vss-length"
	// CheckIntRange: an integer wider than the protocol allows or outside
	// its modulus.
	CheckIntRange = "int-range"
	// CheckPoint: a point not on the session's curve.
	CheckPoint = "point"
	// CheckModulusSize: a Paillier modulus or N-tilde that is not 2048 bits.
	CheckModulusSize = "modulus-size"
	// CheckRangeProof: an MtA range proof with S = 1, Z = 1 or S1 = S2.
	CheckRangeProof = "range-proof"
	// CheckModProof: a Paillier-Blum modulus proof with gcd(W, N) != 1.
	CheckModProof = "mod-proof"
	// CheckParse: a payload that is not a tss-lib message of the session's
	// protocol, does not parse as the type it names, or fails tss-lib's
	// ValidateBasic.
	CheckParse = "parse"
)

// CheckError names a member whose round message failed a check before it
// reached tss-lib. It is the Err of the session's *AbortError, whose
// Culprits name the same member.
type CheckError struct {
	Member string // node ID of the authenticated sender
	Type   string // tss-lib message type
	Check  string // one of the Check constants
	Detail string // which field; public protocol data only
	// Evidence is the SHA-256 of the message's wire bytes as received, so
	// that an accusation names the exact message without carrying it.
	Evidence [32]byte
}

func (e *CheckError) Error() string {
	return fmt.Sprintf("tss: message %s from %q failed check %s: %s", e.Type, e.Member, e.Check, e.Detail)
}

// Unwrap returns ErrMessageRejected.
func (e *CheckError) Unwrap() error { return ErrMessageRejected }

// Sizes fixed by tss-lib's protocols.
const (
	// modulusBits is the size of every Paillier modulus and N-tilde:
	// tss-lib's keygen requires exactly this many bits (round 2).
	modulusBits = 2048
	// commitBits bounds hash commitments (SHA-512/256) and the
	// decommitment randomness (commitments.HashLength).
	commitBits = commitments.HashLength
)

// fault is a failed check before the sender and type are attached.
type fault struct{ check, detail string }

func faultf(check, format string, args ...any) *fault {
	return &fault{check: check, detail: fmt.Sprintf(format, args...)}
}

// Inbound is what a Checker reads of a parsed round message: the member the
// transport authenticated as its sender and the message tss-lib parsed from
// its payload. A session's own message type may carry more (the local
// parties a message is for); Admit hands those values back unchanged.
type Inbound interface {
	Sender() string
	Parsed() tsslib.ParsedMessage
}

// inbound is an Inbound's two parts, as every rule reads them.
type inbound struct {
	from string
	msg  tsslib.ParsedMessage
}

// Checker re-checks every inbound round message of one session after it is
// parsed and before tss-lib sees it. tss-lib v2.0.2 lacks three checks that
// later versions added (VSS vector length, range proof S/Z/S1/S2, mod proof
// gcd(W, N)) and the 2048-bit modulus check in resharing; without the first,
// a one-point decommitment panics inside a goroutine keygen round 3 starts,
// which no recover can catch. The Checker also bounds every integer before
// tss-lib exponentiates with it, and checks points and routing. It is used
// by the session's worker goroutine only.
type Checker[M Inbound] struct {
	ec   elliptic.Curve
	name tsslib.CurveName
	q    *big.Int // group order
	qb   int      // bits of q
	// vssPoints is how many points a VSS decommitment carries: threshold+1
	// (keygen) or new threshold+1 (resharing); 0 when unused.
	vssPoints int
	// paillierN is each remote member's Paillier modulus: from the share
	// (signing) or from the member's round-1 message (keygen).
	paillierN map[string]*big.Int
	// selfN is this node's Paillier modulus (signing: MtA replies are
	// encrypted under it).
	selfN *big.Int
	// waiting holds messages whose check needs an earlier message of the
	// same sender that has not arrived yet (keygen: the mod proof needs the
	// sender's round-1 modulus). Bounded by the inbox slots.
	waiting []M
}

// New returns the Checker of a session on curve ec, registered in tss-lib
// as name. vssThreshold is the threshold (keygen) or new threshold
// (resharing) whose VSS decommitments the session carries; 0 for none.
func New[M Inbound](ec elliptic.Curve, name tsslib.CurveName, vssThreshold int) *Checker[M] {
	q := ec.Params().N
	c := &Checker[M]{ec: ec, name: name, q: q, qb: q.BitLen(), paillierN: map[string]*big.Int{}}
	if vssThreshold > 0 {
		c.vssPoints = vssThreshold + 1
	}
	return c
}

// SetModuli gives a signing session's Checker the Paillier moduli its MtA
// messages are checked against, which signing takes from the share rather
// than from a round-1 message: each remote member's (remote) and this
// node's (self).
func (c *Checker[M]) SetModuli(remote map[string]*big.Int, self *big.Int) {
	maps.Copy(c.paillierN, remote)
	c.selfN = self
}

// Admit checks in and returns the messages that may now go to tss-lib, in
// order: none when in waits for an earlier message of its sender, or in
// followed by messages it unblocked. An error is a *CheckError.
func (c *Checker[M]) Admit(in M) ([]M, error) {
	if !c.ready(parts(in)) {
		c.waiting = append(c.waiting, in)
		return nil, nil
	}
	if err := c.checkOne(parts(in)); err != nil {
		return nil, err
	}
	out := []M{in}
	for progress := true; progress; {
		progress = false
		for i, w := range c.waiting {
			if !c.ready(parts(w)) {
				continue
			}
			c.waiting = append(c.waiting[:i:i], c.waiting[i+1:]...)
			if err := c.checkOne(parts(w)); err != nil {
				return nil, err
			}
			out = append(out, w)
			progress = true
			break
		}
	}
	return out, nil
}

func parts[M Inbound](in M) inbound { return inbound{from: in.Sender(), msg: in.Parsed()} }

func (c *Checker[M]) checkOne(in inbound) error {
	from := in.msg.GetFrom()
	var f *fault
	switch {
	case from == nil || from.MessageWrapper_PartyID == nil || from.Id != in.from:
		f = faultf(CheckSender, "parsed sender differs from the authenticated member")
	default:
		f = c.content(in)
	}
	if f == nil {
		return nil
	}
	e := &CheckError{Member: in.from, Type: in.msg.Type(), Check: f.check, Detail: f.detail}
	if wire, _, err := in.msg.WireBytes(); err == nil {
		e.Evidence = sha256.Sum256(wire)
	}
	return e
}

// routed checks the broadcast flag the sender chose against the type's.
func routed(in inbound, broadcast bool) *fault {
	if in.msg.IsBroadcast() != broadcast {
		return faultf(CheckRouting, "broadcast flag %t, want %t", in.msg.IsBroadcast(), broadcast)
	}
	return nil
}

// intBits reads an unsigned big-endian integer of 1 to maxBits bits. The
// byte length is checked before any conversion.
func intBits(b []byte, maxBits int, what string) (*big.Int, *fault) {
	if len(b) == 0 {
		return nil, faultf(CheckShape, "%s is empty", what)
	}
	if len(b) > (maxBits+7)/8 {
		return nil, faultf(CheckIntRange, "%s has %d bytes, at most %d bits allowed", what, len(b), maxBits)
	}
	v := new(big.Int).SetBytes(b)
	if v.BitLen() > maxBits {
		return nil, faultf(CheckIntRange, "%s has %d bits, at most %d allowed", what, v.BitLen(), maxBits)
	}
	return v, nil
}

// intBelow reads an integer in [1, m). A nil m falls back to maxBits.
func intBelow(b []byte, m *big.Int, maxBits int, what string) (*big.Int, *fault) {
	if m != nil {
		maxBits = m.BitLen()
	}
	v, f := intBits(b, maxBits, what)
	if f != nil {
		return nil, f
	}
	if v.Sign() == 0 || (m != nil && v.Cmp(m) >= 0) {
		return nil, faultf(CheckIntRange, "%s out of range", what)
	}
	return v, nil
}

// ints checks a list of exactly n integers, each at most maxBits wide.
func ints(bzs [][]byte, n, maxBits int, what string) ([]*big.Int, *fault) {
	if len(bzs) != n {
		return nil, faultf(CheckShape, "%s has %d parts, want %d", what, len(bzs), n)
	}
	out := make([]*big.Int, n)
	for i, b := range bzs {
		v, f := intBits(b, maxBits, fmt.Sprintf("%s[%d]", what, i))
		if f != nil {
			return nil, f
		}
		out[i] = v
	}
	return out, nil
}

// scalar reads an integer below the group order.
func (c *Checker[M]) scalar(b []byte, what string) *fault {
	_, f := intBelow(b, c.q, 0, what)
	return f
}

// point checks affine coordinates below the field prime and on the curve.
func (c *Checker[M]) point(x, y []byte, what string) *fault {
	p := c.ec.Params().P
	px, f := intBits(x, p.BitLen(), what+".x")
	if f != nil {
		return f
	}
	py, f := intBits(y, p.BitLen(), what+".y")
	if f != nil {
		return f
	}
	if px.Cmp(p) >= 0 || py.Cmp(p) >= 0 || !c.ec.IsOnCurve(px, py) {
		return faultf(CheckPoint, "%s is not on %s", what, c.name)
	}
	return nil
}

// decommitment checks a hash decommitment of points: the randomness r
// followed by the points' flattened coordinates (x0, y0, x1, y1, ...),
// 1+2*points parts. The length is checked before anything else, so a huge
// vector costs nothing; vss marks a Feldman VSS vector.
func (c *Checker[M]) decommitment(bzs [][]byte, points int, vss bool, what string) *fault {
	if want := 1 + 2*points; len(bzs) != want {
		check := CheckShape
		if vss {
			check = CheckVSSLength
		}
		return faultf(check, "%s has %d parts, want %d (randomness and %d points)", what, len(bzs), want, points)
	}
	if _, f := intBits(bzs[0], commitBits, what+" randomness"); f != nil {
		return f
	}
	for i := 1; i < len(bzs); i += 2 {
		if f := c.point(bzs[i], bzs[i+1], fmt.Sprintf("%s point %d", what, i/2)); f != nil {
			return f
		}
	}
	return nil
}

// vss checks a Feldman VSS decommitment of the session's threshold.
func (c *Checker[M]) vss(bzs [][]byte, what string) *fault {
	if c.vssPoints == 0 {
		return faultf(CheckUnknown, "no VSS expected in this session")
	}
	return c.decommitment(bzs, c.vssPoints, true, what)
}

func commitment(b []byte, what string) *fault {
	_, f := intBits(b, commitBits, what)
	return f
}

// modulus reads a Paillier modulus or N-tilde: exactly modulusBits bits
// and odd, as keygen demands (resharing does not check it in v2.0.2).
func modulus(b []byte, what string) (*big.Int, *fault) {
	if len(b) != modulusBits/8 {
		return nil, faultf(CheckModulusSize, "%s has %d bytes, want %d bits", what, len(b), modulusBits)
	}
	n := new(big.Int).SetBytes(b)
	if n.BitLen() != modulusBits || n.Bit(0) == 0 {
		return nil, faultf(CheckModulusSize, "%s has %d bits or is even, want %d bits", what, n.BitLen(), modulusBits)
	}
	return n, nil
}

func square(n *big.Int) *big.Int {
	if n == nil {
		return nil
	}
	return new(big.Int).Mul(n, n)
}
