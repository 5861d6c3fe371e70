// Package auditwork is a member's own work on the audit trail, and only
// that: it turns the replicated chain on and opens the export (Open),
// runs the export writer and flushes the aggregated denials; while the
// member leads, it creates the audit key and has it sign checkpoints of
// the chain (Run); and it signs any message with the audit key through
// the ordinary signing path (Sign). The export, the denials and the
// AuditService are node/audittrail's; what it asks of its member and
// reads of the replicated state are the Member and State it declares.
package auditwork

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/node/audittrail"
	"github.com/keyquorum/keyquorum/node/config"
)

// Member is what the audit work asks of its member.
type Member interface {
	// IsLeader tells whether the member leads raft now.
	IsLeader() bool
	// Reachable lists the members raft reaches now.
	Reachable() []string
	// Go runs f on a goroutine the member waits for when it stops.
	Go(f func())
	// Propose appends cmd and logs, rather than returns, a failure.
	Propose(ctx context.Context, cmd fsm.Command)
	// Apply appends cmd and waits for its result.
	Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error)
	// ProposeSign proposes a sign request as the leader does for a
	// client's (presign: use the fast path's pools when they have
	// material); dup tells that the request was already made.
	ProposeSign(ctx context.Context, k *fsm.Key, presign bool, cmd *fsm.SignRequested) (dup bool, frost []fsm.FrostCommitment, err error)
	// WatchSign returns a channel closed when an entry ends or advances
	// the sign request.
	WatchSign(requestID string) <-chan struct{}
	// Encode serialises cmd under the cluster's active protocol version.
	Encode(cmd fsm.Command) ([]byte, error)
	// ReportOnce appends an encoded member report, once.
	ReportOnce(ctx context.Context, data []byte) error
}

// State is what the audit work reads of the replicated state, and the
// two switches Open sets on it before raft opens.
type State interface {
	AuditKey() (k *fsm.Key, attempts int, ok bool)
	AuditHead() auditchain.Head
	AuditRecent(from uint64, limit int) []audit.Record
	Sign(requestID string) (*fsm.Sign, bool)
	EnableAudit(cfg auditchain.Config) error
	SetObserver(o fsm.Observer)
}

// Config is the member's side of the audit work.
type Config struct {
	Cluster *config.Cluster
	ID      string // this member
	Dir     string // the member's data directory: the export is Dir/audit
	Log     *slog.Logger
	Now     func() time.Time
}

// Work is the member's part of the audit trail: the export of the
// replicated chain, the aggregator of refusals that never reach the log,
// and the leader's checkpoint driver.
type Work struct {
	Export  *audittrail.Export
	Denials *audittrail.Denials

	cfg        Config
	m          Member
	st         State
	checkpoint atomic.Bool // a checkpoint is being signed
	keyAsked   atomic.Bool // this leader term proposed the audit key
}

// Enable turns on f's replicated chain, in every build but kqd_noaudit:
// a replay must build the same state, audit chain included, that the
// member built when it applied the entries.
func Enable(st State) error {
	if !Compiled {
		return nil
	}
	return st.EnableAudit(auditchain.DefaultConfig())
}

// observer feeds applied entries to the member's observer and the
// records they appended to the export.
type observer struct {
	fsm.Observer
	*audittrail.Export
}

var _ fsm.AuditObserver = observer{}

// Open turns on the replicated chain of st and opens the export; applied
// entries go on to events, their records to the export. Call it after the
// state machine exists and before raft opens.
func Open(st State, events fsm.Observer, m Member, cfg Config) (*Work, error) {
	if err := Enable(st); err != nil {
		return nil, err
	}
	l, err := audittrail.OpenExport(filepath.Join(cfg.Dir, "audit"), cfg.Log.With("component", "audit"), st.AuditRecent)
	if err != nil {
		return nil, err
	}
	w := &Work{Export: l, Denials: audittrail.NewDenials(cfg.Cluster.Audit.DenialWindow), cfg: cfg, m: m, st: st}
	if Compiled {
		st.SetObserver(observer{events, l})
	}
	return w, nil
}

// Run runs the export writer and, while this member leads, the audit
// key bootstrap, checkpoints and denial flushes, until ctx ends.
func (w *Work) Run(ctx context.Context) {
	if !Compiled {
		w.cfg.Log.Warn("AUDIT TRAIL COMPILED OUT: this build is for measuring the audit's cost only")
		return
	}
	w.m.Go(func() { w.Export.Run(ctx.Done()) })
	w.m.Go(func() { w.loop(ctx) })
}

// tick paces the audit loop: key bootstrap, checkpoints, denials.
const tick = 500 * time.Millisecond

// loop does the audit's periodic work. Every member flushes its
// aggregated denials; the leader also creates the audit key once every
// member is reachable, and signs a checkpoint whenever
// audit.checkpoint_every records followed the last one.
func (w *Work) loop(ctx context.Context) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.flushDenials(ctx)
		if !w.m.IsLeader() {
			w.keyAsked.Store(false)
			continue
		}
		k, attempts, ok := w.st.AuditKey()
		switch {
		case !ok || k.State() == fsm.KeyFailed:
			w.createKey(ctx, attempts)
		case k.State() == fsm.KeyActive:
			w.maybeCheckpoint(ctx, k)
		}
	}
}

// flushDenials appends this member's aggregated refusals once their
// window is over: the leader directly, a follower as a member report.
func (w *Work) flushDenials(ctx context.Context) {
	c := w.Denials.Take(w.cfg.Now(), w.cfg.ID)
	if c == nil {
		return
	}
	data, err := w.m.Encode(c)
	if err != nil {
		w.cfg.Log.Error("encode audit denials", "err", err)
		w.Denials.Done()
		return
	}
	if err := w.m.ReportOnce(ctx, data); err != nil {
		w.cfg.Log.Debug("audit denials not appended yet", "err", err)
		return // pending: retried on the next tick
	}
	w.Denials.Done()
}

// createKey proposes the cluster's Ed25519 audit key, under the next name
// after failed attempts. Key generation needs every member, so it waits
// until all are reachable; a request id per name makes a repeat by a
// later leader a duplicate.
func (w *Work) createKey(ctx context.Context, attempts int) {
	members := w.cfg.Cluster.NodeIDs()
	reachable := w.m.Reachable()
	for _, id := range members {
		if !slices.Contains(reachable, id) {
			return
		}
	}
	if w.keyAsked.Swap(true) {
		return
	}
	name := fsm.AuditKeyName
	if attempts > 0 {
		name = fmt.Sprintf("%s.%d", fsm.AuditKeyName, attempts+1)
	}
	w.cfg.Log.Info("creating the audit key", "key", name)
	w.m.Go(func() {
		defer w.keyAsked.Store(false) // the next tick sees the key, or asks again
		w.m.Propose(ctx, &fsm.CreateKey{RequestID: fsm.AuditRequestPrefix + "key-" + name, Name: name,
			Algorithm: "ed25519", Threshold: w.cfg.Cluster.Threshold, Members: members,
			Actor: fsm.NodeActor(w.cfg.ID)})
	})
}

// maybeCheckpoint starts signing the head when enough records followed the
// last checkpoint and no checkpoint is in flight.
func (w *Work) maybeCheckpoint(ctx context.Context, k *fsm.Key) {
	h := w.st.AuditHead()
	if h.Seq < h.CheckpointSeq+uint64(w.cfg.Cluster.Audit.CheckpointEvery) || !w.checkpoint.CompareAndSwap(false, true) {
		return
	}
	w.m.Go(func() {
		defer w.checkpoint.Store(false)
		if err := w.signCheckpoint(ctx, k, h.Seq, h.Hash); err != nil {
			w.cfg.Log.Warn("audit checkpoint", "seq", h.Seq, "err", err)
		}
	})
}

// signCheckpoint has the audit key sign the head through the ordinary
// signing path, under a reserved request id, then appends the checkpoint.
func (w *Work) signCheckpoint(ctx context.Context, k *fsm.Key, seq uint64, head string) error {
	id := fmt.Sprintf("%scheckpoint-%d", fsm.AuditRequestPrefix, seq)
	sig, err := w.Sign(ctx, k, id, audit.CheckpointMessage(seq, head))
	if errors.Is(err, errSignEnded) {
		return nil // the next tick signs a newer head
	}
	if err != nil {
		return err
	}
	_, err = w.m.Apply(ctx, &fsm.AuditCheckpoint{RequestID: id, Key: k.Name, Seq: seq, Head: head, Signature: sig,
		Actor: fsm.NodeActor(w.cfg.ID)})
	return err
}
