package policy

import (
	"errors"
	"fmt"
	"time"
)

// Quotas keep one tenant, or one principal, from starving the others.
// Counts (keys, live handles, concurrent signing sessions) are decided in
// the FSM at the entry's index, like every other authorization, so every
// replica agrees; the sign rate is a token bucket the leader keeps before
// it appends anything (node/service/admission.go), since a rate is a property of
// wall time, which the FSM must not read.

// ecdsaKeyWeight is what an ECDSA key counts against a tenant's keys
// quota. Besides its keygen's Paillier pre-parameters, an ECDSA key keeps
// a presignature pool that its committee refills in the background, about
// as much steady work as a few Ed25519 keys that are signing.
const ecdsaKeyWeight = 4

// KeyWeight is what a key of algorithm counts against a keys quota.
func KeyWeight(algorithm string) int {
	if algorithm == "ecdsa-secp256k1" {
		return ecdsaKeyWeight
	}
	return 1
}

// Quota names, as they appear in errors, status details, metrics and audit
// records: a closed set.
const (
	QuotaKeys          = "keys"
	QuotaHandles       = "handles"
	QuotaSessions      = "sessions"
	QuotaSignPerSecond = "sign_per_second"
	QuotaPresigs       = "presigs"
)

// The errors a quota refusal is a case of (QuotaExceeded.Unwrap). The
// state machine returns the first four for its own full tables as well,
// under the same values (fsm.ErrTooManyKeys is ErrTooManyKeys).
var (
	// ErrRateLimited is returned when a sign request comes faster than its
	// tenant's or principal's sign_per_second quota allows.
	ErrRateLimited = errors.New("sign rate limited")
	// ErrTooManyPending is returned when the pending signing table is full.
	ErrTooManyPending = errors.New("too many pending signing requests")
	// ErrTooManyKeys is returned when the key table is full.
	ErrTooManyKeys = errors.New("too many keys")
	// ErrTooManyPresigs is returned when a key's presignature pool is full.
	ErrTooManyPresigs = errors.New("too many presignatures")
	// ErrTooManyHandles is returned when the handle table is full.
	ErrTooManyHandles = errors.New("too many handles")
)

// QuotaExceeded is a refusal by a quota. It names the quota, whose it is
// and, when waiting alone can help, how long to wait before retrying.
type QuotaExceeded struct {
	Scope string // "tenant" or "principal"
	Name  string // the tenant's or the principal's name
	Quota string // one of the Quota* names
	Limit int
	// RetryAfter is how long until the request could pass; 0 when only a
	// change (a key destroyed, a handle revoked) frees room.
	RetryAfter time.Duration
	base       error
}

// Error names the quota and never anything a caller did not send.
func (e *QuotaExceeded) Error() string {
	s := fmt.Sprintf("%s: %s %s is at its %s quota (%d)", e.base, e.Scope, e.Name, e.Quota, e.Limit)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf("; retry in %s", e.RetryAfter.Round(time.Millisecond))
	}
	return s
}

// Unwrap returns the table error the refusal is a case of (ErrTooManyKeys,
// ErrTooManyHandles, ErrTooManyPending, ErrTooManyPresigs or
// ErrRateLimited), so callers that match those keep working.
func (e *QuotaExceeded) Unwrap() error { return e.base }

// NewQuotaExceeded returns the refusal of quota on scope name.
func NewQuotaExceeded(scope, name, quota string, limit int, retry time.Duration) *QuotaExceeded {
	base := ErrTooManyPending
	switch quota {
	case QuotaKeys:
		base = ErrTooManyKeys
	case QuotaHandles:
		base = ErrTooManyHandles
	case QuotaSignPerSecond:
		base = ErrRateLimited
	case QuotaPresigs:
		base = ErrTooManyPresigs
	}
	return &QuotaExceeded{Scope: scope, Name: name, Quota: quota, Limit: limit, RetryAfter: retry, base: base}
}

// sessionRetry is the retry hint of a sessions refusal: about one signing
// session's length, after which a slot has likely freed.
const sessionRetry = 250 * time.Millisecond
