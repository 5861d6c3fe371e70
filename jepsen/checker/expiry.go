package checker

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/keyquorum/keyquorum/jepsen/model"
)

// ExpiryBound is how far from real time the cluster's replicated time may
// be, as the expiry check assumes it: the cluster's max clock offset (the
// leader stamps entries only while its clock agrees with a quorum's within
// it) plus a slack for the harness's own measurement (its clock and the
// nodes' are read by different processes, and a call's invoke and return
// are taken around the gRPC call, not at the node).
type ExpiryBound struct {
	MaxClockOffset time.Duration `json:"max_clock_offset"`
	Slack          time.Duration `json:"slack"`
}

// DefaultExpiryBound is the cluster's default max clock offset, 500 ms,
// plus 250 ms of slack.
func DefaultExpiryBound() ExpiryBound {
	return ExpiryBound{MaxClockOffset: 500 * time.Millisecond, Slack: 250 * time.Millisecond}
}

// Eps is the bound on |replicated time - real time| the check uses.
func (b ExpiryBound) Eps() time.Duration { return b.MaxClockOffset + b.Slack }

// ExpiryStats counts what the expiry check judged, for results.json: a
// run whose signs all fell near their handles' expiry checked nothing.
type ExpiryStats struct {
	Bound ExpiryBound `json:"bound"`
	// Handles is the short-lived handles acknowledged, whose signs were
	// judged.
	Handles int `json:"handles"`
	// BeforeExpiry counts signs whose entry came, whatever the clocks,
	// before their handle's earliest possible expiry: each must sign.
	BeforeExpiry int `json:"before_expiry"`
	// AfterExpiry counts signs whose entry came at or after the latest
	// possible expiry: each must be refused.
	AfterExpiry int `json:"after_expiry"`
	// NearExpiry counts signs within eps of the expiry, where either
	// outcome is right.
	NearExpiry int `json:"near_expiry"`
	// Signed and RefusedExpired are the outcomes of the signs above;
	// OtherRefusals, Unreached and Unknown are signs that say nothing of
	// expiry (a refusal for another reason, a node that could not be
	// reached, an outcome nobody saw).
	Signed         int `json:"signed"`
	RefusedExpired int `json:"refused_expired"`
	OtherRefusals  int `json:"other_refusals"`
	Unreached      int `json:"unreached"`
	Unknown        int `json:"unknown"`
}

// issued is what the history says of one handle's IssueHandle: its entry
// was applied between the first attempt's call and the first
// acknowledgement (a retry under the request id returns the handle the
// first applied attempt issued, expiry included).
type issued struct {
	key         string
	ttl         time.Duration
	call, ret   int64 // ret is math.MaxInt64 until an attempt is acknowledged
	first, ackd porcupine.Operation
}

// Expiry checks that capability handles expire on time, against real
// time. Replicated time is the maximum of the leader's entry timestamps; a
// handle issued at replicated time t with life ttl expires at t + ttl, and
// a sign whose entry comes at or after that is refused PERMISSION_DENIED
// "... expired". With every stamp within eps = bound.Eps() of real time
// (the harness's monotonic clock, which no nemesis skews), an entry
// appended during a call lies in [call - eps, return + eps], so a handle
// expires somewhere in [issue.call - eps + ttl, issue.return + eps + ttl].
// Two outcomes are then impossible:
//
//   - a sign that got a signature although its entry came, at the
//     earliest, at or after the latest possible expiry: "signed with an
//     expired handle" (replicated time held back: a leader whose clock is
//     behind, or time frozen at a jump ahead);
//   - a sign refused as expired although its entry came, at the latest,
//     before the earliest possible expiry: "handle expired early"
//     (replicated time pushed ahead by a leader whose clock runs fast).
//
// Only handles that may expire during a run are judged (model.MayExpire):
// the long-lived ones are the model's, which refuses any PERMISSION_DENIED
// for them. A sign's earliest time is that of the first attempt of its
// request id and digest: a retry of a request that signed returns the
// stored signature, whatever the handle's state since.
func Expiry(history []porcupine.Operation, bound ExpiryBound) (Check, ExpiryStats) {
	c := Check{Name: "expiry", Verdict: Valid}
	st := ExpiryStats{Bound: bound}
	eps := int64(bound.Eps())
	handles := map[string]*issued{}
	firstCall := map[string]int64{} // sign request id / digest -> earliest call
	for _, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		if in.Handle == "" || in.HandleTTL <= 0 || !model.MayExpire(in.HandleTTL) {
			continue
		}
		switch in.Kind {
		case model.IssueHandle:
			h, ok := handles[in.Handle]
			if !ok {
				h = &issued{key: in.Key, ttl: in.HandleTTL, call: op.Call, ret: math.MaxInt64, first: op}
				handles[in.Handle] = h
			}
			if op.Call < h.call {
				h.call, h.first = op.Call, op
			}
			if out.Status == model.OK && op.Return < h.ret {
				h.ret, h.ackd = op.Return, op
			}
		case model.Sign:
			id := in.RequestID + "/" + in.Digest
			if t, ok := firstCall[id]; !ok || op.Call < t {
				firstCall[id] = op.Call
			}
		}
	}
	for _, h := range handles {
		if h.ret != math.MaxInt64 {
			st.Handles++
		}
	}
	for _, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		if in.Kind != model.Sign || in.Handle == "" {
			continue
		}
		h, ok := handles[in.Handle]
		if !ok || h.ret == math.MaxInt64 {
			continue // never acknowledged: the workload signs only with issued handles
		}
		signed := out.Status == model.OK && out.Signature != ""
		expired := refusedAsExpired(out)
		switch {
		case out.Status == model.Unknown:
			st.Unknown++
			continue
		case out.Status == model.Unreached:
			st.Unreached++
			continue
		case !signed && !expired:
			st.OtherRefusals++
			continue
		}
		earliest := firstCall[in.RequestID+"/"+in.Digest] - eps // the sign entry's time, at the earliest
		latest := op.Return + eps
		expiresFrom := h.call - eps + int64(h.ttl) // the handle's expiry, at the earliest
		expiresBy := h.ret + eps + int64(h.ttl)
		c.Checked++
		switch {
		case latest < expiresFrom:
			st.BeforeExpiry++
		case earliest >= expiresBy:
			st.AfterExpiry++
		default:
			st.NearExpiry++
		}
		if signed {
			st.Signed++
		} else {
			st.RefusedExpired++
		}
		switch {
		case signed && earliest >= expiresBy:
			c.fail(Invalid, "signed with an expired handle: %s signed at %s at the earliest; %s, so it had expired by %s",
				describeSign(op), at(earliest), describeIssue(in.Handle, h), at(expiresBy))
		case expired && latest < expiresFrom:
			c.fail(Invalid, "handle expired early: %s refused as expired at %s at the latest; %s, so it could not expire before %s",
				describeSign(op), at(latest), describeIssue(in.Handle, h), at(expiresFrom))
		}
	}
	c.note("eps %s (max clock offset %s + slack %s); %d short-lived handles; %d signs before expiry, %d after, %d within eps of it; %d signed, %d refused as expired, %d refused otherwise, %d unreached, %d unknown",
		bound.Eps(), bound.MaxClockOffset, bound.Slack, st.Handles, st.BeforeExpiry, st.AfterExpiry, st.NearExpiry,
		st.Signed, st.RefusedExpired, st.OtherRefusals, st.Unreached, st.Unknown)
	return c, st
}

// refusedAsExpired reports a sign refused because its handle expired: the
// node maps fsm.ErrHandleDenied to PERMISSION_DENIED, and the
// FSM's reason reads "handle <id> expired".
func refusedAsExpired(out model.Output) bool {
	return out.Status == model.Denied && strings.Contains(out.Error, "expired")
}

func describeSign(op porcupine.Operation) string {
	in := op.Input.(model.Input)
	s := fmt.Sprintf("sign rid=%s of %s with handle %s (client %d, called %s, returned %s", in.RequestID, in.Key, in.Handle,
		op.ClientId, at(op.Call), at(op.Return))
	if op.Metadata != nil {
		s += ", " + fmt.Sprint(op.Metadata)
	}
	return s + ")"
}

func describeIssue(id string, h *issued) string {
	in := h.ackd.Input.(model.Input)
	s := fmt.Sprintf("handle %s (key %s, ttl %s, rid=%s) was issued between %s and %s", id, h.key, h.ttl, in.RequestID, at(h.call), at(h.ret))
	if h.first.Metadata != nil {
		s += fmt.Sprintf(" (first attempt %s", h.first.Metadata)
		if h.ackd.Call != h.first.Call && h.ackd.Metadata != nil {
			s += fmt.Sprintf(", acknowledged by %s", h.ackd.Metadata)
		}
		s += ")"
	}
	return s
}

// at renders a history time (nanoseconds since the recorder started) as
// seconds with milliseconds.
func at(ns int64) string {
	if ns == math.MaxInt64 {
		return "never"
	}
	return fmt.Sprintf("%.3fs", float64(ns)/1e9)
}
