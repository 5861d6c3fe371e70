package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/blame"
	"github.com/keyquorum/keyquorum/node/frostsign"
	"github.com/keyquorum/keyquorum/tss"
)

// Identifiable abort, used: a member that saw a committee member's message
// or share fail a check reports AttemptBlamed through the log; the FSM
// decides when accusations exclude the culprit from committees
// (consensus/fsm/blame.go states the rule and why). The leader retries a
// blamed attempt at once without the culprit, and its committee picker
// skips excluded members while enough others remain.

// Checks of blame reports besides tss's Check constants.
const (
	// checkTSSLib: tss-lib's own verification named the culprit.
	checkTSSLib = "tss-lib"
)

// blameChecks is the closed set of check labels on the blame metric; a
// check outside it (from a newer build) is counted as "other".
var blameChecks = []string{tss.CheckSender, tss.CheckRouting, tss.CheckUnknown, tss.CheckShape, tss.CheckVSSLength,
	tss.CheckIntRange, tss.CheckPoint, tss.CheckModulusSize, tss.CheckRangeProof, tss.CheckModProof,
	tss.CheckParse, checkTSSLib, frostsign.CheckShare, frostsign.CheckCommitment, blame.Flood}

// blameAbort reports the culprits a failed tss-lib signing attempt named,
// one AttemptBlamed each. Timeouts name stalled members, not culprits:
// they are not blame (a slow member is not a lying one).
func (n *Node) blameAbort(ctx context.Context, s *fsm.Sign, err error) {
	var abort *tss.AbortError
	if !errors.As(err, &abort) || len(abort.Culprits) == 0 {
		return
	}
	var bad *tss.CheckError
	checked := errors.As(err, &bad)
	for _, culprit := range abort.Culprits {
		check, evidence := checkTSSLib, sha256.Sum256(fmt.Appendf(nil, "%x %s %v", abort.Session[:], culprit, abort.Err))
		if checked && bad.Member == culprit {
			check, evidence = bad.Check, bad.Evidence
		}
		n.reportBlame(ctx, s, culprit, check, evidence)
	}
}

// reportBlame appends this member's accusation of culprit in attempt s.
// Under protocol 1 there is no such entry: the culprit is only logged.
func (n *Node) reportBlame(ctx context.Context, s *fsm.Sign, culprit, check string, evidence [32]byte) {
	if culprit == "" || culprit == n.self.ID {
		return
	}
	cmd := &fsm.AttemptBlamed{RequestID: s.RequestID, Attempt: s.Attempt, Culprit: culprit, Accuser: n.self.ID,
		Check: check, EvidenceSHA256: hex.EncodeToString(evidence[:])}
	if n.fsm.Protocol() < fsm.Since(cmd) {
		return
	}
	n.log.Warn("blaming a committee member", "request", s.RequestID, "attempt", s.Attempt, "culprit", culprit, "check", check)
	ctx, cancel := context.WithTimeout(ctx, reportTimeout)
	defer cancel()
	n.report(ctx, cmd)
}

// retryBlamed moves a pending attempt that a member was blamed in to a
// committee without that member at once, instead of at its deadline. It
// reports whether it did.
func (s *supervisor) retryBlamed(ctx context.Context, p *fsm.Sign) bool {
	culprits := s.n.fsm.BlamedIn(p.RequestID, p.Attempt)
	if len(culprits) == 0 {
		return false
	}
	reason := fmt.Sprintf("committee %v: %v blamed", p.Committee, culprits)
	s.n.spawn(func() { s.n.retrySignAvoiding(ctx, p, culprits[0], reason) })
	return true
}

// eligible is members without those the blame rule excludes and those
// not ready (notReady: silent, replaying the log, or restarted before the
// log records it; a committee with one stalls for seconds), unless fewer
// than need would remain: both steer committees, neither makes signing
// impossible.
func (n *Node) eligible(members []string, need int) []string {
	excluded := n.fsm.Excluded(n.clock.Now().UnixNano())
	notReady := n.notReady(members)
	if len(excluded) == 0 && len(notReady) == 0 {
		return members
	}
	rest := slices.DeleteFunc(slices.Clone(members), func(m string) bool { return slices.Contains(excluded, m) || notReady[m] != "" })
	if len(rest) < need {
		rest = slices.DeleteFunc(slices.Clone(members), func(m string) bool { return slices.Contains(excluded, m) })
	}
	if len(rest) < need {
		return members
	}
	return rest
}

// notReady is clocksync.Sync.NotReady over this node's readings and replica.
func (n *Node) notReady(members []string) map[string]string {
	if n.clocks == nil {
		return nil
	}
	return n.clocks.NotReady(members, n.self.ID, n.fsm.AppliedIndex(), n.fsm.Boot, time.Now())
}
