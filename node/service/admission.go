package service

import (
	"errors"
	"math"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/keyquorum/keyquorum/consensus/policy"
)

// Admission control: a sign request is held to its tenant's and its
// principal's sign_per_second quota on the leader, before anything is
// appended, and to their sessions quota by the FSM (checked here first, so
// a flood costs no log entries). Counts the FSM decides (keys, handles,
// sessions) are the same on every replica; the rate buckets live on the
// leader alone, since a rate is a matter of wall time, which the FSM must
// not read. A new leader starts with full buckets: a leader change lets at
// most one more second's burst through.

// rateBuckets is a token bucket per tenant and per principal that has a
// sign_per_second quota: names a policy bounds, a few dozen bytes each.
type rateBuckets struct {
	mu sync.Mutex
	b  map[string]*bucket
}

// bucket holds up to one second's worth of tokens (at least one).
type bucket struct {
	rate   float64
	tokens float64
	last   time.Time
}

func newRateBuckets() *rateBuckets { return &rateBuckets{b: map[string]*bucket{}} }

// refill brings b to now under rate and returns the wait until one token
// is there (0 when one is).
func (b *bucket) refill(now time.Time, rate int) time.Duration {
	r := float64(rate)
	if b.rate != r { // the policy changed: keep the tokens, new ceiling
		b.rate = r
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(math.Max(r, 1), b.tokens+dt*r)
		b.last = now
	}
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / r * float64(time.Second))
}

// take takes one token from every bucket named, or none: a request
// refused by its principal's bucket costs its tenant nothing. It returns
// the index of the first bucket without a token and how long until it
// has one; -1 when the tokens were taken. A rate of 0 is unbounded.
func (rb *rateBuckets) take(now time.Time, names []string, rates []int) (int, time.Duration) {
	rb.mu.Lock()
	defer rb.mu.Unlock()
	var got []*bucket
	for i, name := range names {
		if rates[i] <= 0 {
			continue
		}
		b, ok := rb.b[name]
		if !ok {
			b = &bucket{rate: float64(rates[i]), tokens: math.Max(float64(rates[i]), 1), last: now}
			rb.b[name] = b
		}
		if wait := b.refill(now, rates[i]); wait > 0 {
			return i, wait
		}
		got = append(got, b)
	}
	for _, b := range got {
		b.tokens--
	}
	return -1, 0
}

// admitSign holds a new sign request by actor with key to the quotas
// before it costs a log entry: the sessions the FSM would refuse, then a
// token from the tenant's and the principal's sign rate.
func (n *core) admitSign(actor, key, requestID string) error {
	if err := n.fsm.AdmitSign(actor, key, requestID); err != nil {
		return err
	}
	if _, seen := n.fsm.Sign(requestID); seen {
		return nil // a retry asks for an outcome, not for new work
	}
	tr, pr := n.fsm.SignRates(actor, key)
	if tr == 0 && pr == 0 {
		return nil
	}
	tenant := policy.TenantOf(key)
	who, _ := policy.PrincipalOf(actor)
	i, wait := n.rates.take(n.clock.Now(), []string{"tenant/" + tenant, "principal/" + who}, []int{tr, pr})
	switch i {
	case -1:
		return nil
	case 0:
		return policy.NewQuotaExceeded("tenant", tenant, policy.QuotaSignPerSecond, tr, wait)
	default:
		return policy.NewQuotaExceeded("principal", who, policy.QuotaSignPerSecond, pr, wait)
	}
}

// quotaStatus is the status of a quota refusal: RESOURCE_EXHAUSTED with
// the quota named in a QuotaFailure and, when waiting helps, a RetryInfo.
func quotaStatus(err error) (error, bool) {
	var qe *policy.QuotaExceeded
	if !errors.As(err, &qe) {
		return nil, false
	}
	st := status.New(codes.ResourceExhausted, err.Error())
	details := []protoadapt.MessageV1{&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
		Subject: qe.Scope + ":" + qe.Name, Description: qe.Quota,
	}}}}
	if qe.RetryAfter > 0 {
		details = append(details, &errdetails.RetryInfo{RetryDelay: durationpb.New(qe.RetryAfter)})
	}
	if d, derr := st.WithDetails(details...); derr == nil {
		st = d
	}
	return st.Err(), true
}

// admissionReason returns the quota a status refused by, for the
// rejection metric: one of the fsm.Quota* names, or "".
func admissionReason(err error) string {
	s, ok := status.FromError(err)
	if !ok || s.Code() != codes.ResourceExhausted {
		return ""
	}
	for _, d := range s.Details() {
		if qf, ok := d.(*errdetails.QuotaFailure); ok && len(qf.Violations) > 0 {
			switch q := qf.Violations[0].Description; q {
			case policy.QuotaKeys, policy.QuotaHandles, policy.QuotaSessions, policy.QuotaSignPerSecond:
				return q
			}
		}
	}
	return ""
}
