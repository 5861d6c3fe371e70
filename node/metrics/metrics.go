// Package metrics is one keyquorum node's Prometheus instrumentation, and
// only that: the counters the node's request path, sessions and apply loop
// update, the gauges read from the node's state when scraped, and the
// plain-HTTP endpoint that serves them (Serve). It owns one registry per
// node (nothing registers globally) and reads the node through Source, so
// it needs nothing else of the node.
//
// Secrecy: no metric, label or help text is derived from a digest, a
// signature, a share, pre-params, a request id or an actor.
package metrics

import (
	"context"
	"errors"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/tss"
)

// Label values. Every label of every keyquorum metric takes its values
// from a fixed set, or is a key name (bounded by the FSM's key limit and
// only ever taken from a key that exists). Request ids, actors, digests,
// presignature ids and error texts never become label values: a caller
// must not be able to mint series, and a metric must not carry what the
// audit trail deliberately hashes.
const (
	PathPresigned = "presigned" // the request named a presignature
	PathFull      = "full"      // the request ran the full protocol
	PathNone      = "none"      // refused before it reached the log
	PathFrost     = "frost"     // the request signed with FROST commitments

	// Invariants counted by keyquorum_invariant_violations_total.
	invariantBadSignature = "bad_signature"
	invariantAuditExport  = "audit_export"

	outcomeOK      = "ok"
	outcomeFailed  = "failed"  // accepted, but no signature (or the caller stopped waiting)
	outcomeRefused = "refused" // refused for what the request asked
	outcomeTimeout = "timeout"

	KindKeygen       = "keygen"
	KindRefresh      = "refresh"
	KindSign         = "sign"
	KindPresign      = "presign"        // rounds 1-4, up to parking
	KindPresignedSig = "presigned_sign" // rounds 5-9 from a parked half
	KindFrostSign    = "frost_sign"     // a member's FROST share

	// What started a member's signing attempt (keyquorum_sign_starts_total).
	StartAnnounced = "announced"
	StartApplied   = "applied"

	discardStalled = "stalled" // the leader gave up waiting for the committee to park
	discardFailed  = "failed"  // a member's rounds 1-4 failed
	discardRestart = "restart" // a committee member started a new process life
	discardExpired = "expired" // past its TTL in the replicated state
)

// PresignStalledReason is the reason the leader's supervisor gives when a
// presignature never parked; metrics tell it apart from members' failures.
const PresignStalledReason = "stalled before parking"

// Set is one node's instrumentation. Counters are updated from the request
// path, the members' session goroutines and raft's apply loop; gauges are
// read from Source when scraped. All methods are safe for concurrent use.
type Set struct {
	reg *prometheus.Registry
	// blame counts accusations; nil when Source has no State or no Now.
	blame *blameMetrics

	signRequests    *prometheus.CounterVec   // path, outcome, code
	signSeconds     *prometheus.HistogramVec // path
	presigHits      *prometheus.CounterVec   // key
	presigMisses    *prometheus.CounterVec   // key
	presigRefused   *prometheus.CounterVec   // key
	presigRefill    *prometheus.HistogramVec // key
	presigDiscarded *prometheus.CounterVec   // key, reason
	sessions        *prometheus.CounterVec   // kind, outcome
	sessionSeconds  *prometheus.HistogramVec // kind
	signPhase       *prometheus.HistogramVec // phase
	signStarts      *prometheus.CounterVec   // from
	admissionRej    *prometheus.CounterVec   // reason
	auditRecords    prometheus.Counter
	auditCheckpts   prometheus.Counter
	refusals        *prometheus.CounterVec // method, code
	keyChanges      *prometheus.CounterVec // op
	invariants      *prometheus.CounterVec // invariant

	// replayedUpTo is the last log index found on disk at start: applied
	// entries up to it are history and are not counted again. It starts at
	// the maximum so nothing counts before raft has opened.
	replayedUpTo atomic.Uint64
	pool         presigTracker
}

// New builds a node's registry with the keyquorum metrics, the state
// collector over src, the blame metrics when src has a State and a Now,
// and the Go runtime and process collectors.
func New(src Source) *Set {
	m := &Set{reg: prometheus.NewRegistry()}
	m.replayedUpTo.Store(math.MaxUint64)
	m.pool.m = map[string]trackedPresig{}
	if src.State != nil {
		m.pool.fsm = src.State
	}
	m.signRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyquorum_sign_requests_total",
		Help: "Sign requests served by this node as leader, by path (presigned, full, none = refused before the log), outcome (ok, failed, refused) and gRPC code.",
	}, []string{"path", "outcome", "code"})
	m.signSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "keyquorum_sign_duration_seconds",
		Help: "Time from a sign request reaching the leader to its signature, for successful requests, by path.",
		// From a warm-pool signature (a few ms) to a full protocol run
		// that needed retries (tens of seconds).
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"path"})
	m.presigHits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyquorum_presign_hits_total",
		Help: "Sign requests the leader appended naming a presignature of the key.",
	}, []string{"key"})
	m.presigMisses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyquorum_presign_misses_total",
		Help: "Sign requests of an ECDSA key that ran the full protocol because the pool had no usable presignature.",
	}, []string{"key"})
	m.presigRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyquorum_presign_refused_total",
		Help: "Sign requests whose named presignature the state machine refused (expired, or a member restarted); they ran the full protocol.",
	}, []string{"key"})
	m.presigRefill = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "keyquorum_presign_refill_seconds",
		Help: "Time for this member to park its half of a presignature once the request was applied.",
		// From rounds 1-4 on an idle committee (~0.3 s) to the park
		// deadline (presignParkWait, 45 s).
		Buckets: []float64{.1, .25, .5, 1, 2, 4, 8, 15, 30, 45, 60},
	}, []string{"key"})
	m.presigDiscarded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyquorum_presign_discarded_total",
		Help: "Presignatures removed from the replicated pool without being used, by reason (stalled, failed, restart, expired).",
	}, []string{"key", "reason"})
	m.sessions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyquorum_tss_sessions_total",
		Help: "Threshold protocol sessions this node took part in, by kind (keygen, sign, presign, presigned_sign, refresh) and outcome (ok, failed, timeout).",
	}, []string{"kind", "outcome"})
	m.sessionSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "keyquorum_tss_session_seconds",
		Help: "Time this member spent in successful threshold protocol sessions, by kind, from loading the share to the result.",
		// From a presigned signature's online phase (a few ms) to an
		// ECDSA keygen on a loaded machine (tens of seconds).
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"kind"})
	m.signPhase = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "keyquorum_sign_phase_seconds",
		Help:    "Where a successful sign request's time went on the leader, by phase: ordered (from reaching the leader to its entry applied, the raft commit included) and signed (from then to the signature recorded, the committee's session and the report's commit included).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"phase"})
	m.signStarts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyquorum_sign_starts_total",
		Help: "Signing attempts this member started, by what started it: the leader's announcement (announced) or applying the entry (applied).",
	}, []string{"from"})
	m.admissionRej = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyquorum_admission_rejected_total",
		Help: "Requests this node refused with RESOURCE_EXHAUSTED by a tenant's or principal's quota, by reason (keys, handles, sessions, sign_per_second).",
	}, []string{"reason"})
	m.auditRecords = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyquorum_audit_records_appended_total",
		Help: "Audit records this node appended to its export files.",
	})
	m.auditCheckpts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "keyquorum_audit_checkpoints_total",
		Help: "Audit checkpoints applied by this node since it started.",
	})
	m.keyChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyquorum_key_changes_total",
		Help: "Key lifecycle changes applied to the replicated state, by op (rotate, promote, rollback, retire, revoke, policy, destroy, cancel_destroy, refresh); every replica counts each.",
	}, []string{"op"})
	m.invariants = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyquorum_invariant_violations_total",
		Help: "Things that never happen in a correct cluster, seen by this node, by invariant: " +
			"bad_signature (a committed signature or audit checkpoint report that does not verify under its key: a lying member or a broken build), " +
			"audit_export (the local audit export disagrees with the replicated chain). Any increase warrants an incident.",
	}, []string{"invariant"})
	for _, inv := range []string{invariantBadSignature, invariantAuditExport} {
		m.invariants.WithLabelValues(inv) // export zeros, so alerts on increase see the first one
	}
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "keyquorum_requests_refused_total",
		Help: "Client calls this node refused for the caller's reasons (denied, unauthenticated, invalid, over a quota), by method and gRPC code; a call forwarded to the leader counts there.",
	}, []string{"method", "code"})
	m.reg.MustRegister(m.signRequests, m.signSeconds, m.refusals, m.keyChanges, m.invariants, m.presigHits, m.presigMisses, m.presigRefused,
		m.presigRefill, m.presigDiscarded, m.sessions, m.sessionSeconds, m.signPhase, m.signStarts, m.admissionRej, m.auditRecords, m.auditCheckpts,
		newStateCollector(src),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src.State != nil && src.Now != nil {
		m.blame = newBlameMetrics(src.State, src.Now, src.BlameChecks)
		m.reg.MustRegister(m.blame)
	}
	return m
}

// Registry returns the registry to expose or gather.
func (m *Set) Registry() *prometheus.Registry { return m.reg }

// Register adds collectors the node keeps itself (its clock, its
// settings' drift, the engine's dropped messages) to the registry.
func (m *Set) Register(cs ...prometheus.Collector) { m.reg.MustRegister(cs...) }

// Handler serves the registry in the Prometheus text format, at any path.
func (m *Set) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError, // a failing collector must not hide the rest
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// StartedAt marks the entries replayed from disk at start.
func (m *Set) StartedAt(lastIndex uint64) { m.replayedUpTo.Store(lastIndex) }

// SignDone records one sign request the leader served.
func (m *Set) SignDone(path string, took time.Duration, err error) {
	outcome, code := signOutcome(err)
	m.signRequests.WithLabelValues(path, outcome, code.String()).Inc()
	if err == nil {
		m.signSeconds.WithLabelValues(path).Observe(took.Seconds())
	}
}

// signOutcome sorts a Sign result: the caller's fault (refused) versus the
// cluster's (failed). DeadlineExceeded and Canceled count as failed: the
// request was accepted, the signature did not arrive in time.
func signOutcome(err error) (string, codes.Code) {
	code := status.Code(err)
	switch code {
	case codes.OK:
		return outcomeOK, code
	case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded, codes.Canceled, codes.Internal, codes.Unknown, codes.DataLoss:
		return outcomeFailed, code
	default:
		return outcomeRefused, code
	}
}

// Session records the end of one of this member's protocol sessions.
func (m *Set) Session(kind string, start time.Time, err error) {
	if err == nil {
		m.sessionSeconds.WithLabelValues(kind).Observe(time.Since(start).Seconds())
	}
	outcome := outcomeOK
	switch {
	case err == nil:
	case errors.Is(err, tss.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		outcome = outcomeTimeout
	default:
		outcome = outcomeFailed
	}
	m.sessions.WithLabelValues(kind, outcome).Inc()
}

// Applied is the FSM observer hook. It runs on raft's apply loop, right
// after each entry, so the State it reads is exactly the state that entry
// left: a presignature that disappeared was removed by this entry.
func (m *Set) Applied(index uint64, cmd fsm.Command, res fsm.Result) {
	count := index > m.replayedUpTo.Load()
	if _, ok := cmd.(*fsm.AuditCheckpoint); ok && res.Err == nil && count {
		m.auditCheckpts.Inc()
	}
	if m.blame != nil && count {
		m.blame.applied(cmd, res)
	}
	if errors.Is(res.Err, fsm.ErrBadSignature) && count {
		m.invariants.WithLabelValues(invariantBadSignature).Inc()
	}
	if ck, ok := cmd.(*fsm.ChangeKey); ok && res.Err == nil && count {
		m.keyChanges.WithLabelValues(keyOpLabel(ck.Op)).Inc()
	}
	for _, d := range m.pool.applied(cmd, res) {
		if count {
			m.presigDiscarded.WithLabelValues(d.key, d.reason).Inc()
		}
	}
}

// SignStarted counts a signing attempt this member started, by what
// started it (StartAnnounced, StartApplied).
func (m *Set) SignStarted(from string) { m.signStarts.WithLabelValues(from).Inc() }

// SignPhases records where a successful sign request's time went on the
// leader: from reaching it (proposed) to its entry applied (ordered), and
// from then to now, the signature recorded.
func (m *Set) SignPhases(proposed, ordered time.Time) {
	m.signPhase.WithLabelValues("ordered").Observe(ordered.Sub(proposed).Seconds())
	m.signPhase.WithLabelValues("signed").Observe(time.Since(ordered).Seconds())
}

// PresignHit counts a sign request of key the leader appended naming a
// presignature.
func (m *Set) PresignHit(key string) { m.presigHits.WithLabelValues(key).Inc() }

// PresignMiss counts a sign request of an ECDSA key that found no usable
// presignature.
func (m *Set) PresignMiss(key string) { m.presigMisses.WithLabelValues(key).Inc() }

// PresignRefused counts a sign request whose named presignature the state
// machine refused.
func (m *Set) PresignRefused(key string) { m.presigRefused.WithLabelValues(key).Inc() }

// PresignRefilled records how long this member took to park its half of a
// presignature of key.
func (m *Set) PresignRefilled(key string, took time.Duration) {
	m.presigRefill.WithLabelValues(key).Observe(took.Seconds())
}

// AdmissionRejected counts a request refused by a quota, by reason.
func (m *Set) AdmissionRejected(reason string) { m.admissionRej.WithLabelValues(reason).Inc() }

// Refused counts a client call refused for the caller's reasons, by method
// and gRPC code.
func (m *Set) Refused(method string, code codes.Code) {
	m.refusals.WithLabelValues(method, code.String()).Inc()
}

// AuditRecords counts the records the audit export appends.
func (m *Set) AuditRecords() prometheus.Counter { return m.auditRecords }

// AuditExportMismatches counts export lines that disagree with the
// replicated chain, an invariant violation.
func (m *Set) AuditExportMismatches() prometheus.Counter {
	return m.invariants.WithLabelValues(invariantAuditExport)
}

// keyOpLabel bounds the op label to the ops the FSM knows.
func keyOpLabel(op fsm.KeyOp) string {
	switch op {
	case fsm.OpRotate, fsm.OpPromote, fsm.OpRollback, fsm.OpRetire, fsm.OpRevoke,
		fsm.OpPolicy, fsm.OpDestroy, fsm.OpCancelDestroy, fsm.OpRefresh:
		return string(op)
	}
	return "other"
}
