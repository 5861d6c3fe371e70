package tss

import (
	"math/big"

	"github.com/keyquorum/keyquorum/tss/inbox"
	"github.com/keyquorum/keyquorum/tss/msgcheck"
)

// The checks on inbound round messages live in package msgcheck; the names
// below keep them part of this package's API for the blame records and
// tests that name them.

// ErrMessageRejected is wrapped by every *CheckError.
var ErrMessageRejected = msgcheck.ErrMessageRejected

// CheckError names a member whose round message failed a check before it
// reached tss-lib. It is the Err of the session's *AbortError, whose
// Culprits name the same member.
type CheckError = msgcheck.CheckError

// Names of the checks a *CheckError reports. They are stable: a blame
// record may store them.
const (
	CheckSender      = msgcheck.CheckSender
	CheckRouting     = msgcheck.CheckRouting
	CheckUnknown     = msgcheck.CheckUnknown
	CheckShape       = msgcheck.CheckShape
	CheckVSSLength   = msgcheck.CheckVSSLength
	CheckIntRange    = msgcheck.CheckIntRange
	CheckPoint       = msgcheck.CheckPoint
	CheckModulusSize = msgcheck.CheckModulusSize
	CheckRangeProof  = msgcheck.CheckRangeProof
	CheckModProof    = msgcheck.CheckModProof
	CheckParse       = msgcheck.CheckParse
)

// inbound is a parsed message from an authenticated member (or, in a
// resharing session, from this node's other local party) and the indexes of
// the local parties it is for; the checker reads it through its Sender and
// Parsed methods.
type inbound = inbox.Message

// newChecker returns the checker of a session of alg whose VSS
// decommitments carry vssThreshold+1 points (0: none).
func newChecker(alg Algorithm, vssThreshold int) *msgcheck.Checker[inbound] {
	ec, name := curveFor(alg)
	return msgcheck.New[inbound](ec, name, vssThreshold)
}

// signingModuli maps each committee member of an ECDSA share to its Paillier
// modulus, and returns this node's, for checking MtA messages.
func signingModuli(sh *Share, committee []string) (map[string]*big.Int, *big.Int) {
	out := make(map[string]*big.Int, len(committee))
	d := sh.ecdsa
	if d == nil {
		return out, nil
	}
	for _, node := range committee {
		k := sh.keys[node]
		for j, kj := range d.Ks {
			if k != nil && kj != nil && kj.Cmp(k) == 0 && j < len(d.PaillierPKs) && d.PaillierPKs[j] != nil {
				out[node] = d.PaillierPKs[j].N
			}
		}
	}
	var self *big.Int
	if d.PaillierSK != nil {
		self = d.PaillierSK.N
	}
	return out, self
}
