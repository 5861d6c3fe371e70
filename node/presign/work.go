package presign

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/metrics"
	"github.com/keyquorum/keyquorum/node/reserve"
	"github.com/keyquorum/keyquorum/tss"
)

// parkWait bounds rounds 1-4 of a presignature; a committee that has not
// parked by then is stalled and its presignature is discarded.
const parkWait = 45 * time.Second

// State is the replicated state the work reads: this member's replica.
// *fsm.FSM is one.
type State interface {
	Keys() []*fsm.Key
	Presigs(key string) []*fsm.Presig
	PresigRoom(key string) bool
	Time() int64
}

// Member is what the work needs of the member it runs in.
type Member interface {
	// Report appends this member's report, retrying while there is no leader.
	Report(ctx context.Context, cmd fsm.Command)
	// ReportOnce appends this member's report once, through the leader.
	ReportOnce(ctx context.Context, cmd fsm.Command) error
	// Propose appends an entry as leader, logging a failure.
	Propose(ctx context.Context, cmd fsm.Command)
	// Go runs f on a goroutine the member waits for when it stops.
	Go(f func())
	// Share opens this member's share of a key version.
	Share(ctx context.Context, key string, version, epoch uint32) (*tss.Share, error)
	// Presign runs rounds 1-4 of a presignature on the engine.
	Presign(ctx context.Context, req tss.PresignRequest) (*tss.Presignature, error)
	// Reachable returns the members the leader can reach.
	Reachable() []string
	// NotReady names the members that may not join a committee now, with why.
	NotReady(members []string) map[string]string
	// PickCommittee picks a committee of k the leader can reach, without
	// member without (none when it is empty).
	PickCommittee(k *fsm.Key, without string) ([]string, error)
	// BlameAbort reports the culprits a failed signing attempt named.
	BlameAbort(ctx context.Context, s *fsm.Sign, err error)
	// ReportSignature appends the finished signature of attempt s.
	ReportSignature(ctx context.Context, s *fsm.Sign, sig []byte)
}

// Config is what the work is set up with.
type Config struct {
	Cluster *config.Cluster
	Self    string  // this member's id
	Boot    string  // this process life
	Parked  *Parked // this process life's halves
	Log     *slog.Logger
	Metrics *metrics.Set
}

// Work is this process life's presignature work.
type Work struct {
	cfg   Config
	m     Member
	state State
	log   *slog.Logger

	reserved reserve.Set  // leader: presignatures named by proposals in flight
	lastSign atomic.Int64 // unix nanos of the last sign request this leader served

	// The refill's own, on the supervisor's goroutine only.
	pending   map[string]time.Time // pending presignature id -> first seen
	refilling reserve.Set          // keys whose refill is being proposed
}

// New returns a member's presignature work.
func New(cfg Config, m Member, state State) *Work {
	return &Work{cfg: cfg, m: m, state: state, log: cfg.Log, pending: map[string]time.Time{}}
}

// NewBoot returns an id for this process life, which NodeBooted records:
// the presignature halves it parks die with it.
func NewBoot() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Run parks this member's half of a presignature and reports it ready, or
// discarded when rounds 1-4 fail.
func (w *Work) Run(ctx context.Context, index uint64, p *fsm.Presig) {
	log := w.log.With("presig", p.ID, "key", p.Key)
	start := time.Now()
	ps, err := w.presign(ctx, index, p)
	w.cfg.Metrics.Session(metrics.KindPresign, start, err)
	if err != nil {
		log.Warn("presignature failed", "err", err)
		w.m.Report(ctx, &fsm.PresignDiscarded{ID: p.ID, Node: w.cfg.Self, Reason: err.Error()})
		return
	}
	w.cfg.Metrics.PresignRefilled(p.Key, time.Since(start))
	w.cfg.Parked.Put(p.ID, ps)
	go func() { // an expired or failed session leaves the store by itself
		<-ps.Done()
		w.cfg.Parked.Take(p.ID)
	}()
	w.m.Report(ctx, &fsm.PresignReady{ID: p.ID, Node: w.cfg.Self, Boot: w.cfg.Boot})
}

func (w *Work) presign(ctx context.Context, index uint64, p *fsm.Presig) (*tss.Presignature, error) {
	share, err := w.m.Share(ctx, p.Key, p.Version, p.Epoch)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, parkWait)
	defer cancel()
	return w.m.Presign(ctx, tss.PresignRequest{
		Session:   tss.NewSessionID(w.cfg.Cluster.ID, "presign", index, p.ID, 0),
		Share:     share,
		Committee: p.Committee,
		TTL:       time.Duration(p.Expires - p.Created),
	})
}

// Sign binds the parked half attempt s names and finishes the signature
// from it. Taken from the store here, when the entry is dispatched, the
// half can no longer be discarded by a sweep.
func (w *Work) Sign(ctx context.Context, s *fsm.Sign) {
	ps := w.cfg.Parked.Take(s.Presig)
	if ps == nil {
		w.log.Warn("presignature named by a request is not parked here; the leader will retry", "presig", s.Presig, "request", s.RequestID)
		return
	}
	w.m.Go(func() { w.signPresigned(ctx, s, ps) })
}

func (w *Work) signPresigned(ctx context.Context, s *fsm.Sign, ps *tss.Presignature) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Cluster.Sign.Timeout)
	defer cancel()
	start := time.Now()
	sig, err := ps.Sign(ctx, s.Digest)
	w.cfg.Metrics.Session(metrics.KindPresignedSig, start, err)
	if err != nil {
		w.log.Warn("presigned attempt failed", "request", s.RequestID, "presig", s.Presig, "err", err)
		w.m.BlameAbort(ctx, s, err)
		return
	}
	w.m.ReportSignature(ctx, s, sig)
}

// ReportBoot records this process life in the log, once: until it is
// committed the cluster may still count on presignatures this member lost
// when it restarted, so the caller retries until it succeeds.
func (w *Work) ReportBoot(ctx context.Context) error {
	if err := w.m.ReportOnce(ctx, &fsm.NodeBooted{Node: w.cfg.Self, Boot: w.cfg.Boot, Protocol: fsm.MaxProtocol}); err != nil {
		return fmt.Errorf("node: report boot: %w", err)
	}
	return nil
}
