package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/secmem"
	"github.com/keyquorum/keyquorum/sealing"
	"github.com/keyquorum/keyquorum/tss"
)

// PreParams owns this node's ECDSA pre-parameters (Paillier key and safe
// primes). Generating them costs 8-40 s of CPU, so it happens once, in the
// background at first start, and the result is sealed like a share. The
// opened copy lives in protected memory (secmem) and, like a share, is
// dropped after idle without a Wait, its words zeroed once no keygen (or
// share made by one, which points at the same integers) holds them, and
// unsealed again by the next Wait.
type PreParams struct {
	cluster *config.Cluster
	node    string
	path    string
	sealer  Sealer
	log     *slog.Logger
	secmem  *secmem.Mem
	idle    time.Duration

	mu    sync.Mutex
	pp    *tss.PreParams // nil before ready and while evicted
	used  time.Time      // last Wait
	timer *time.Timer    // checks for idleness
	ready chan struct{}

	// statusMu guards status and started apart from mu: Wait holds mu
	// across a TPM unseal, and `kq status` must never wait on one.
	statusMu sync.Mutex
	status   string
	started  time.Time
}

// NewPreParams returns the pre-parameters of member node of cluster c,
// sealed under the data directory dir; Run loads or makes them.
func NewPreParams(c *config.Cluster, node, dir string, s Sealer, log *slog.Logger) *PreParams {
	return &PreParams{cluster: c, node: node, path: filepath.Join(dir, "preparams.sealed"), sealer: s, log: log,
		secmem: secmem.New(log, "pre-params"), idle: shareIdle, status: "loading", ready: make(chan struct{})}
}

func (p *PreParams) binding() sealing.Binding {
	return sealing.Binding{ClusterID: p.cluster.ID, NodeID: p.node, Kind: sealing.KindPreParams}
}

// Status describes readiness for `kq status`.
func (p *PreParams) Status() string {
	p.statusMu.Lock()
	defer p.statusMu.Unlock()
	if p.status == "generating" {
		return fmt.Sprintf("generating (%s)", time.Since(p.started).Round(time.Second))
	}
	return p.status
}

// Ready reports whether the pre-parameters are loaded, without waiting.
func (p *PreParams) Ready() bool {
	select {
	case <-p.ready:
		return true
	default:
		return false
	}
}

// Wait returns the pre-parameters once they are ready, unsealing them
// again if they were evicted.
func (p *PreParams) Wait(ctx context.Context) (*tss.PreParams, error) {
	select {
	case <-p.ready:
	case <-ctx.Done():
		return nil, fmt.Errorf("node: waiting for pre-params (%s): %w", p.Status(), ctx.Err())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pp == nil {
		pp, err := p.unseal(ctx)
		if err != nil {
			return nil, fmt.Errorf("node: reopen pre-params: %w", err)
		}
		p.hold(pp)
	}
	p.used = time.Now()
	return p.pp, nil
}

// hold moves pp's secrets into protected memory and starts its idle timer.
// p.mu is held.
func (p *PreParams) hold(pp *tss.PreParams) {
	if err := pp.MoveSecrets(p.secmem.Region().Words); err != nil {
		// Validated on load, so this does not happen; keep them usable.
		p.log.Warn("pre-params stay on the heap", "err", err)
	}
	p.pp, p.used = pp, time.Now()
	p.timer = time.AfterFunc(p.idle, p.expire)
}

// expire drops the pre-parameters if unused for idle, and otherwise checks
// again when they would be; see Shares.expire for the collection.
func (p *PreParams) expire() {
	p.mu.Lock()
	if p.pp == nil || stillUsed(p.timer, p.idle, p.used) {
		p.mu.Unlock()
		return
	}
	p.pp = nil
	p.mu.Unlock()
	runtime.GC()
	p.log.Debug("idle pre-params dropped from memory")
}

// unseal opens the sealed pre-parameters.
func (p *PreParams) unseal(ctx context.Context) (*tss.PreParams, error) {
	blob, err := sealing.ReadFile(p.path)
	if err != nil {
		return nil, err
	}
	plain, err := p.sealer.Open(ctx, p.binding(), blob)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return tss.UnmarshalPreParams(plain)
}

func (p *PreParams) set(status string) {
	p.statusMu.Lock()
	p.status = status
	p.statusMu.Unlock()
}

// Run loads, imports or generates the pre-parameters, then calls report
// until it succeeds.
func (p *PreParams) Run(ctx context.Context, report func(context.Context) error) {
	pp, err := p.obtain(ctx)
	if err != nil {
		if ctx.Err() == nil {
			p.log.Error("pre-params unavailable; ECDSA keys cannot be created", "err", err)
			p.set("failed: " + err.Error())
		}
		return
	}
	p.mu.Lock()
	p.hold(pp)
	p.mu.Unlock()
	p.set("ready")
	close(p.ready)
	for ctx.Err() == nil {
		if err := report(ctx); err == nil {
			return
		} else {
			p.log.Debug("report pre-params", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (p *PreParams) obtain(ctx context.Context) (*tss.PreParams, error) {
	pp, err := p.unseal(ctx)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return pp, err
	}
	if p.cluster.Preparams.Source == config.PreparamsFixtures {
		p.log.Warn("using TEST-ONLY pre-params fixtures", "file", p.cluster.PreparamsFixture(p.node))
		if pp, err = tss.LoadPreParamsFile(p.cluster.PreparamsFixture(p.node)); err != nil {
			return nil, err
		}
	} else {
		p.statusMu.Lock()
		p.status, p.started = "generating", time.Now()
		p.statusMu.Unlock()
		p.log.Info("generating ECDSA pre-params (safe primes); this takes 10-60 s of CPU once")
		pp, err = tss.GeneratePreParams(ctx, func(elapsed time.Duration) {
			p.log.Info("still generating pre-params", "elapsed", elapsed.Round(time.Second))
		})
		if err != nil {
			return nil, err
		}
		p.log.Info("pre-params generated", "took", time.Since(p.started).Round(time.Second))
	}
	plain, err := pp.MarshalBinary()
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	blob, err := p.sealer.Seal(ctx, p.binding(), plain)
	if err != nil {
		return nil, err
	}
	return pp, sealing.WriteFile(p.path, blob)
}
