package node

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/consensus"
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
	pathPresigned = "presigned" // the request named a presignature
	pathFull      = "full"      // the request ran the full protocol
	pathNone      = "none"      // refused before it reached the log

	// Invariants counted by keyquorum_invariant_violations_total.
	invariantBadSignature = "bad_signature"
	invariantAuditExport  = "audit_export"

	outcomeOK      = "ok"
	outcomeFailed  = "failed"  // accepted, but no signature (or the caller stopped waiting)
	outcomeRefused = "refused" // refused for what the request asked
	outcomeTimeout = "timeout"

	kindKeygen       = "keygen"
	kindRefresh      = "refresh"
	kindSign         = "sign"
	kindPresign      = "presign"        // rounds 1-4, up to parking
	kindPresignedSig = "presigned_sign" // rounds 5-9 from a parked half

	discardStalled = "stalled" // the leader gave up waiting for the committee to park
	discardFailed  = "failed"  // a member's rounds 1-4 failed
	discardRestart = "restart" // a committee member started a new process life
	discardExpired = "expired" // past its TTL in the replicated state
)

// presignStalledReason is the reason the leader's supervisor gives when a
// presignature never parked; metrics tell it apart from members' failures.
const presignStalledReason = "stalled before parking"

// metrics is one node's Prometheus instrumentation. It owns its registry:
// two nodes in one process never share series, and nothing registers
// globally. Counters are updated from the request path, the members'
// session goroutines and raft's apply loop; gauges are read from the
// replicated state and the engine when scraped (see stateCollector). All
// methods are safe for concurrent use.
//
// Secrecy: no metric, label or help text is derived from a digest, a
// signature, a share, pre-params, a request id or an actor.
type metrics struct {
	reg *prometheus.Registry
	// blame counts accusations; set by the node, nil in tests of metrics alone.
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

// newMetrics builds a node's registry with the keyquorum metrics, the
// state collector over src, and the Go runtime and process collectors.
func newMetrics(src stateSource) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.replayedUpTo.Store(math.MaxUint64)
	m.pool.m = map[string]trackedPresig{}
	if src.FSM != nil {
		m.pool.fsm = src.FSM
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
	return m
}

// Registry returns the registry to expose or gather.
func (m *metrics) Registry() *prometheus.Registry { return m.reg }

// startedAt marks the entries replayed from disk at start.
func (m *metrics) startedAt(lastIndex uint64) { m.replayedUpTo.Store(lastIndex) }

// signDone records one sign request the leader served.
func (m *metrics) signDone(path string, took time.Duration, err error) {
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

// session records the end of one of this member's protocol sessions.
func (m *metrics) session(kind string, start time.Time, err error) {
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

// applied is the FSM observer hook. It runs on raft's apply loop, right
// after each entry, so the FSM it reads is exactly the state that entry
// left: a presignature that disappeared was removed by this entry.
func (m *metrics) applied(index uint64, cmd fsm.Command, res fsm.Result) {
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

// keyOpLabel bounds the op label to the ops the FSM knows.
func keyOpLabel(op fsm.KeyOp) string {
	switch op {
	case fsm.OpRotate, fsm.OpPromote, fsm.OpRollback, fsm.OpRetire, fsm.OpRevoke,
		fsm.OpPolicy, fsm.OpDestroy, fsm.OpCancelDestroy, fsm.OpRefresh:
		return string(op)
	}
	return "other"
}

// presigTracker follows the replicated pool entry by entry to tell why a
// presignature left it: the FSM deletes used, discarded, expired and
// restarted presignatures alike, and only the entry that deleted one says
// which it was. It holds what the pool holds, plus (after the node installs
// a snapshot) presignatures the snapshot dropped, until their expiry.
type presigTracker struct {
	fsm interface {
		HasPresig(id string) bool
		Time() int64
	}

	mu sync.Mutex
	m  map[string]trackedPresig
}

type trackedPresig struct {
	key     string
	expires int64
}

type discard struct{ key, reason string }

func (t *presigTracker) applied(cmd fsm.Command, res fsm.Result) []discard {
	if t.fsm == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []discard
	switch c := cmd.(type) {
	case *fsm.PresignRequested:
		out = t.sweep(out, "") // applying it expired old ones
		if res.Err == nil && res.Presig != nil {
			t.m[c.ID] = trackedPresig{key: c.Key, expires: res.Presig.Expires}
		}
	case *fsm.SignRequested:
		if p, ok := t.m[c.Presig]; ok && c.Presig != "" && !t.fsm.HasPresig(c.Presig) {
			delete(t.m, c.Presig)
			if res.Err != nil { // deleted without being used: it had expired
				out = append(out, discard{p.key, discardExpired})
			}
		}
	case *fsm.PresignDiscarded:
		if p, ok := t.m[c.ID]; ok && res.Err == nil {
			delete(t.m, c.ID)
			reason := discardFailed
			if c.Reason == presignStalledReason {
				reason = discardStalled
			}
			out = append(out, discard{p.key, reason})
		}
	case *fsm.NodeBooted:
		out = t.sweep(out, discardRestart)
	}
	return out
}

// sweep forgets tracked presignatures the FSM no longer holds. With
// reason empty it is the expiry sweep: only presignatures past their expiry
// are looked up, so the apply loop pays a map walk, not a lookup per
// presignature. A presignature that vanished before its expiry without an
// entry saying why (the node installed a snapshot) is counted as expired
// once its expiry passes.
func (t *presigTracker) sweep(out []discard, reason string) []discard {
	now := int64(0)
	if reason == "" {
		now = t.fsm.Time()
	}
	for id, p := range t.m {
		if reason == "" && now < p.expires || t.fsm.HasPresig(id) {
			continue
		}
		delete(t.m, id)
		r := reason
		if r == "" {
			r = discardExpired
		}
		out = append(out, discard{p.key, r})
	}
	return out
}

// stateSource is what the state collector reads at scrape time.
type stateSource struct {
	FSM        *fsm.FSM
	Raft       func() (consensus.Stats, bool) // false before raft opened
	Running    func() int                     // tss sessions in progress
	Parked     func() int                     // this node's parked presignature halves
	PreParams  func() bool                    // this node's ECDSA pre-params are loaded
	PoolTarget int                            // presign.pool
}

// stateCollector reads gauges from their source when scraped, so they are
// never stale and nothing polls between scrapes.
type stateCollector struct {
	src stateSource

	ready, pending, target                   *prometheus.Desc
	raftState, term, commit, applied, last   *prometheus.Desc
	running, parked, preParams               *prometheus.Desc
	keys, pendingSigns, auditSeq, checkptSeq *prometheus.Desc
}

func newStateCollector(src stateSource) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &stateCollector{
		src:          src,
		ready:        d("keyquorum_presign_pool_ready", "Ready presignatures of the key in the replicated pool.", "key"),
		pending:      d("keyquorum_presign_pool_pending", "Presignatures of the key whose committee is still running rounds 1-4.", "key"),
		target:       d("keyquorum_presign_pool_target", "Configured presignatures kept per ECDSA key (presign.pool)."),
		raftState:    d("keyquorum_raft_state", "1 for this member's current raft state, 0 for the others.", "state"),
		term:         d("keyquorum_raft_term", "Current raft term."),
		commit:       d("keyquorum_raft_commit_index", "Last raft log index known committed."),
		applied:      d("keyquorum_raft_applied_index", "Last raft log index applied to the state machine."),
		last:         d("keyquorum_raft_last_index", "Last raft log index in the log or snapshot."),
		running:      d("keyquorum_tss_sessions_running", "Threshold protocol sessions in progress on this node, parked presignatures included."),
		parked:       d("keyquorum_presign_parked", "This node's halves of presignatures parked in memory."),
		preParams:    d("keyquorum_preparams_ready", "1 once this node's ECDSA pre-parameters are loaded."),
		keys:         d("keyquorum_keys", "Keys in the replicated state, by state.", "state"),
		pendingSigns: d("keyquorum_sign_pending", "Sign requests pending in the replicated state."),
		auditSeq:     d("keyquorum_audit_head_seq", "Sequence number of the newest audit record in the replicated chain."),
		checkptSeq:   d("keyquorum_audit_checkpoint_seq", "Sequence number covered by the newest audit checkpoint."),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.ready, c.pending, c.target, c.raftState, c.term, c.commit, c.applied, c.last,
		c.running, c.parked, c.preParams, c.keys, c.pendingSigns, c.auditSeq, c.checkptSeq} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	src := c.src
	if src.FSM != nil {
		byState := map[fsm.KeyState]int{}
		for _, k := range src.FSM.Keys() {
			byState[k.State()]++
			if k.State() != fsm.KeyActive || k.Algorithm != tss.ECDSASecp256k1.String() {
				continue
			}
			ready, pending := 0, 0
			for _, p := range src.FSM.Presigs(k.Name) {
				if p.State == fsm.PresigReady {
					ready++
				} else {
					pending++
				}
			}
			gauge(c.ready, float64(ready), k.Name)
			gauge(c.pending, float64(pending), k.Name)
		}
		for _, s := range []fsm.KeyState{fsm.KeyGenerating, fsm.KeyActive, fsm.KeyFailed} {
			gauge(c.keys, float64(byState[s]), string(s))
		}
		gauge(c.pendingSigns, float64(src.FSM.TableStats().PendingSigns))
		h := src.FSM.AuditHead()
		gauge(c.auditSeq, float64(h.Seq))
		gauge(c.checkptSeq, float64(h.CheckpointSeq))
	}
	gauge(c.target, float64(src.PoolTarget))
	if src.Raft != nil {
		if st, ok := src.Raft(); ok {
			cur := strings.ToLower(st.State)
			for _, s := range []string{"follower", "candidate", "leader", "shutdown"} {
				v := 0.0
				if s == cur {
					v = 1
				}
				gauge(c.raftState, v, s)
			}
			gauge(c.term, float64(st.Term))
			gauge(c.commit, float64(st.CommitIndex))
			gauge(c.applied, float64(st.AppliedIndex))
			gauge(c.last, float64(st.LastIndex))
		}
	}
	if src.Running != nil {
		gauge(c.running, float64(src.Running()))
	}
	if src.Parked != nil {
		gauge(c.parked, float64(src.Parked()))
	}
	if src.PreParams != nil {
		v := 0.0
		if src.PreParams() {
			v = 1
		}
		gauge(c.preParams, v)
	}
}
