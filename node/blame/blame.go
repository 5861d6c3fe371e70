// Package blame is a member's side of identifiable abort: it accuses,
// through the log (AttemptBlamed), a committee member whose message or
// share failed a check, or who floods this member with round messages;
// on the leader it retries at once an attempt a member was blamed in, and
// steers committees away from the members the blame rule excludes and
// those not ready. The rule itself, when accusations exclude a member, is
// the state machine's (consensus/fsm/blame.go states it and why).
package blame

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	fsmblame "github.com/keyquorum/keyquorum/consensus/fsm/blame"
	"github.com/keyquorum/keyquorum/node/clock"
	"github.com/keyquorum/keyquorum/node/frostsign"
	"github.com/keyquorum/keyquorum/tss"
)

// Checks of blame reports besides tss's Check constants.
const (
	// checkTSSLib: tss-lib's own verification named the culprit.
	checkTSSLib = "tss-lib"
)

// Checks is the closed set of check labels on the blame metric; a check
// outside it (from a newer build) is counted as "other".
var Checks = []string{tss.CheckSender, tss.CheckRouting, tss.CheckUnknown, tss.CheckShape, tss.CheckVSSLength,
	tss.CheckIntRange, tss.CheckPoint, tss.CheckModulusSize, tss.CheckRangeProof, tss.CheckModProof,
	tss.CheckParse, checkTSSLib, frostsign.CheckShare, frostsign.CheckCommitment, fsmblame.Flood}

// State is the replicated state the work reads: this member's replica.
// *fsm.FSM is one.
type State interface {
	Protocol() uint32
	BlamedIn(requestID string, attempt uint32) []string
	Excluded(now int64) []string
}

// Member is what the work needs of the member it runs in.
type Member interface {
	// Report appends this member's report under its own deadline,
	// retrying while there is no leader.
	Report(ctx context.Context, cmd fsm.Command)
	// Go runs f on a goroutine the member waits for when it stops.
	Go(f func())
	// RetryAvoiding moves attempt s to a committee without culprit, or
	// fails it.
	RetryAvoiding(ctx context.Context, s *fsm.Sign, culprit, reason string)
	// NotReady names the members that may not join a committee now, with why.
	NotReady(members []string) map[string]string
	// IsMember reports whether id is a member this member admits.
	IsMember(id string) bool
	// PendingDropped counts, per sender, the round messages dropped for
	// overflowing its share of the engine's pending buffer.
	PendingDropped() map[string]uint64
}

// Work is a member's blame work.
type Work struct {
	self  string // this member's id
	clock clock.Clock
	log   *slog.Logger
	m     Member
	state State
}

// New returns a member's blame work.
func New(self string, clk clock.Clock, log *slog.Logger, m Member, state State) *Work {
	return &Work{self: self, clock: clk, log: log, m: m, state: state}
}

// Abort reports the culprits a failed tss-lib signing attempt named, one
// AttemptBlamed each. Timeouts name stalled members, not culprits: they
// are not blame (a slow member is not a lying one).
func (w *Work) Abort(ctx context.Context, s *fsm.Sign, err error) {
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
		w.Report(ctx, s, culprit, check, evidence)
	}
}

// Report appends this member's accusation of culprit in attempt s.
// Under protocol 1 there is no such entry: the culprit is only logged.
func (w *Work) Report(ctx context.Context, s *fsm.Sign, culprit, check string, evidence [32]byte) {
	if culprit == "" || culprit == w.self {
		return
	}
	cmd := &fsm.AttemptBlamed{RequestID: s.RequestID, Attempt: s.Attempt, Culprit: culprit, Accuser: w.self,
		Check: check, EvidenceSHA256: hex.EncodeToString(evidence[:])}
	if w.state.Protocol() < fsm.Since(cmd) {
		return
	}
	w.log.Warn("blaming a committee member", "request", s.RequestID, "attempt", s.Attempt, "culprit", culprit, "check", check)
	w.m.Report(ctx, cmd)
}

// RetryBlamed moves a pending attempt that a member was blamed in to a
// committee without that member at once, instead of at its deadline. It
// reports whether it did.
func (w *Work) RetryBlamed(ctx context.Context, p *fsm.Sign) bool {
	culprits := w.state.BlamedIn(p.RequestID, p.Attempt)
	if len(culprits) == 0 {
		return false
	}
	reason := fmt.Sprintf("committee %v: %v blamed", p.Committee, culprits)
	w.m.Go(func() { w.m.RetryAvoiding(ctx, p, culprits[0], reason) })
	return true
}

// Eligible is members without those the blame rule excludes and those
// not ready (silent, replaying the log, or restarted before the log
// records it; a committee with one stalls for seconds), unless fewer than
// need would remain: both steer committees, neither makes signing
// impossible.
func (w *Work) Eligible(members []string, need int) []string {
	excluded := w.state.Excluded(w.clock.Now().UnixNano())
	notReady := w.m.NotReady(members)
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
