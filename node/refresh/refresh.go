// Package refresh is a member's part in a share refresh or reshare that an
// applied entry started: dealing from its old share when it is in the old
// committee, receiving and sealing a new share under the next epoch when
// it is a new holder, and reporting the outcome. The leader's supervisor
// fails a refresh that outlives its deadline; node/shred shreds the
// shares the switch leaves behind.
package refresh

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/estimate"
	"github.com/keyquorum/keyquorum/node/metrics"
	"github.com/keyquorum/keyquorum/tss"
)

// Member is what the refresh work needs of the member it runs in.
type Member interface {
	// Report appends this member's report of an outcome under its own
	// deadline: the work's deadline may be what ended it.
	Report(ctx context.Context, cmd fsm.Command)
	// Go runs f on a goroutine the member waits for when it stops.
	Go(f func())
	// Share opens this member's share of a key version's epoch.
	Share(ctx context.Context, key string, version, epoch uint32) (*tss.Share, error)
	// Seal stores a new share of a key version's epoch.
	Seal(ctx context.Context, key string, version, epoch uint32, share *tss.Share) error
	// PreParams waits for this member's ECDSA pre-parameters.
	PreParams(ctx context.Context) (*tss.PreParams, error)
	// Reshare runs this member's side of a reshare session.
	Reshare(ctx context.Context, req tss.ReshareRequest) (*tss.Share, error)
}

// Config is what the refresh work is set up with.
type Config struct {
	ClusterID string // derives the session ids
	Self      string // this member's id
	Log       *slog.Logger
	// Timeout bounds one refresh; the leader fails it after as long.
	Timeout time.Duration
	Metrics *metrics.Set
	// Took records how long refreshes ran.
	Took *estimate.Durations
}

// Work is a member's refresh work.
type Work struct {
	cfg    Config
	member Member
}

// New returns the refresh work of a member.
func New(cfg Config, member Member) *Work {
	return &Work{cfg: cfg, member: member}
}

// Start starts this member's part in a refresh or reshare of a key
// version, if it has one: dealing when it is in the old committee,
// receiving when it is a new holder.
func (w *Work) Start(ctx context.Context, k *fsm.Key, version uint32) {
	v := k.Version(version)
	if v == nil || v.Refresh == nil {
		return
	}
	if slices.Contains(v.Refresh.Committee, w.cfg.Self) || slices.Contains(v.Refresh.Parties(k), w.cfg.Self) {
		w.member.Go(func() { w.run(ctx, k, version) })
	}
}

// run takes part in resharing a version: every new holder receives a new
// share of the same public key; the old committee deals. The new share is
// sealed under the next epoch beside the old one, which stays in use
// until every new holder confirmed (see node/shred). A dealer that is
// no new holder reports nothing: its share becomes useless with the
// switch.
func (w *Work) run(ctx context.Context, k *fsm.Key, version uint32) {
	v := k.Version(version)
	r := v.Refresh
	rctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	log := w.cfg.Log.With("key", k.Name, "version", version, "epoch", r.Epoch)
	start := time.Now()
	share, err := w.refresh(rctx, k, v)
	w.cfg.Metrics.Session(metrics.KindRefresh, start, err)
	if err == nil {
		w.cfg.Took.Add(metrics.KindRefresh, k.Algorithm, time.Since(start))
	}
	if err != nil {
		log.Warn("refresh failed", "err", err)
		w.member.Report(ctx, &fsm.RefreshFailed{Key: k.Name, Version: version, Epoch: r.Epoch, Node: w.cfg.Self, Reason: err.Error()})
		return
	}
	if share == nil {
		log.Info("dealt new shares; this node holds none of them")
		return
	}
	log.Info("refreshed share sealed")
	w.member.Report(ctx, &fsm.ShareRefreshed{Key: k.Name, Version: version, Epoch: r.Epoch, Node: w.cfg.Self, PublicKey: share.PublicKey()})
}

func (w *Work) refresh(ctx context.Context, k *fsm.Key, v *fsm.Version) (*tss.Share, error) {
	alg, err := tss.ParseAlgorithm(k.Algorithm)
	if err != nil {
		return nil, err
	}
	self := w.cfg.Self
	r := v.Refresh
	parties := r.Parties(k)
	req := tss.ReshareRequest{
		Session:      tss.NewSessionID(w.cfg.ClusterID, "refresh", r.Index, r.RequestID, 0),
		OldCommittee: r.Committee,
		OldParties:   k.Members,
		NewParties:   parties,
		NewThreshold: r.NewThreshold(k),
		Epoch:        r.Epoch,
		Algorithm:    alg,
		PublicKey:    v.PublicKey,
	}
	// Only a dealer needs its old share: a holder that only receives (or
	// a member that joins) takes the public facts from the state.
	if slices.Contains(r.Committee, self) {
		if req.Share, err = w.member.Share(ctx, k.Name, v.Number, v.Epoch); err != nil {
			return nil, err
		}
	}
	if alg == tss.ECDSASecp256k1 && slices.Contains(parties, self) {
		if req.PreParams, err = w.member.PreParams(ctx); err != nil {
			return nil, err
		}
	}
	share, err := w.member.Reshare(ctx, req)
	if err != nil {
		return nil, err
	}
	if share == nil {
		if slices.Contains(parties, self) {
			return nil, fmt.Errorf("node: refresh of %s v%d gave this new holder no share", k.Name, v.Number)
		}
		return nil, nil
	}
	if err := w.member.Seal(ctx, k.Name, v.Number, r.Epoch, share); err != nil {
		return nil, err
	}
	return share, nil
}
