package metrics

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/tss"
)

// State is what the metrics read of the replicated state: the node's
// FSM. Its methods are read on raft's apply loop and at scrape time.
type State interface {
	Keys() []*fsm.Key
	Presigs(key string) []*fsm.Presig
	HasPresig(id string) bool
	TableStats() fsm.TableStats
	AuditHead() auditchain.Head
	Excluded(now int64) []string
	// Time is the replicated time of the last applied entry.
	Time() int64
}

// Source is what a node gives its metrics to read at scrape time. Any
// field may be left out; its series are then absent.
type Source struct {
	State      State
	Raft       func() (consensus.Stats, bool) // false before raft opened
	Running    func() int                     // tss sessions in progress
	Parked     func() int                     // this node's parked presignature halves
	PreParams  func() bool                    // this node's ECDSA pre-params are loaded
	PoolTarget int                            // presign.pool
	// Now is the node's clock and BlameChecks the closed set of blame
	// check labels (a check outside it counts as "other").
	Now         func() time.Time
	BlameChecks []string
}

// stateCollector reads gauges from their source when scraped, so they are
// never stale and nothing polls between scrapes.
type stateCollector struct {
	src Source

	ready, pending, target                   *prometheus.Desc
	raftState, term, commit, applied, last   *prometheus.Desc
	running, parked, preParams               *prometheus.Desc
	keys, pendingSigns, auditSeq, checkptSeq *prometheus.Desc
}

func newStateCollector(src Source) *stateCollector {
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
	if src.State != nil {
		byState := map[fsm.KeyState]int{}
		for _, k := range src.State.Keys() {
			byState[k.State()]++
			if k.State() != fsm.KeyActive || k.Algorithm != tss.ECDSASecp256k1.String() {
				continue
			}
			ready, pending := 0, 0
			for _, p := range src.State.Presigs(k.Name) {
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
		gauge(c.pendingSigns, float64(src.State.TableStats().PendingSigns))
		h := src.State.AuditHead()
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
