package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// Op performs run i of an operation and returns the wall time of the part
// it measures (set-up and checks can stay outside the timed interval).
type Op func(ctx context.Context, i int) (time.Duration, error)

// Timed turns f into an Op that measures the whole call.
func Timed(f func(ctx context.Context, i int) error) Op {
	return func(ctx context.Context, i int) (time.Duration, error) {
		start := time.Now()
		err := f(ctx, i)
		return time.Since(start), err
	}
}

// Run runs op n times, one after another, with indexes 0..n-1, and returns
// the samples. It stops at the first error or when ctx ends, returning the
// samples gathered so far with the error.
func Run(ctx context.Context, n int, op Op) ([]time.Duration, error) {
	out, err := Interleave(ctx, n, op)
	if len(out) == 0 {
		return nil, err
	}
	return out[0], err
}

// Interleave runs n rounds; round i runs every op once with index i, in the
// given order, one after another. Interleaving spreads slow drifts in
// machine load (other processes, thermal limits) evenly over the ops, so
// their ratios stay meaningful on a noisy machine. It returns one sample
// slice per op and stops at the first error or when ctx ends.
func Interleave(ctx context.Context, n int, ops ...Op) ([][]time.Duration, error) {
	if n < 1 {
		return nil, ErrNoRuns
	}
	out := make([][]time.Duration, len(ops))
	for j := range ops {
		out[j] = make([]time.Duration, 0, n)
	}
	for i := range n {
		for j, op := range ops {
			if err := ctx.Err(); err != nil {
				return out, fmt.Errorf("bench: run %d of op %d: %w", i, j, err)
			}
			d, err := op(ctx, i)
			if err != nil {
				return out, fmt.Errorf("bench: run %d of op %d: %w", i, j, err)
			}
			out[j] = append(out[j], d)
		}
	}
	return out, nil
}

// SignConfig describes sequential signatures through one node.
type SignConfig struct {
	// Key is the key name to sign with.
	Key string
	// Runs is how many signatures Signs requests, one at a time.
	Runs int
	// PerCall bounds each Sign call.
	PerCall time.Duration
	// Message returns the digest (ECDSA) or message (Ed25519) for run i.
	Message func(i int) []byte
	// Check, if set, verifies each returned signature outside the timed
	// interval; a false result fails the run with ErrBadSignature.
	Check func(msg, sig []byte) bool
	_     struct{}
}

// DefaultSignConfig returns a config for runs sequential signatures with
// key, 30 s per call, over 32-byte digests that differ per run.
func DefaultSignConfig(key string, runs int) SignConfig {
	return SignConfig{Key: key, Runs: runs, PerCall: 30 * time.Second, Message: Digest}
}

// Validate reports the first unusable setting.
func (c SignConfig) Validate() error {
	switch {
	case c.Key == "":
		return errors.New("bench: sign config: Key is empty")
	case c.Runs < 1:
		return ErrNoRuns
	case c.PerCall <= 0:
		return errors.New("bench: sign config: PerCall must be > 0")
	case c.Message == nil:
		return errors.New("bench: sign config: Message is nil")
	}
	return nil
}

// Digest returns SHA-256 of "keyquorum bench <i>": a valid ECDSA digest
// (below the secp256k1 order with overwhelming probability) and an
// acceptable Ed25519 message.
func Digest(i int) []byte {
	d := sha256.Sum256(fmt.Appendf(nil, "keyquorum bench %d", i))
	return d[:]
}

// SignOp returns an Op that requests one signature through c per run. It
// times only the RPC as the client sees it (including forwarding to the
// leader, Raft commits and the signing session); message construction and
// cfg.Check are not timed. cfg.Runs is ignored.
func SignOp(c kqpb.KeyServiceClient, cfg SignConfig) (Op, error) {
	cfg.Runs = max(cfg.Runs, 1)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) (time.Duration, error) {
		msg := cfg.Message(i)
		cctx, cancel := context.WithTimeout(ctx, cfg.PerCall)
		start := time.Now()
		resp, err := c.Sign(cctx, &kqpb.SignRequest{Key: cfg.Key, Digest: msg})
		el := time.Since(start)
		cancel()
		if err != nil {
			return el, fmt.Errorf("bench: sign %s: %w", cfg.Key, err)
		}
		if cfg.Check != nil && !cfg.Check(msg, resp.Signature) {
			return el, fmt.Errorf("bench: sign %s: %w", cfg.Key, ErrBadSignature)
		}
		return el, nil
	}, nil
}

// Signs sends cfg.Runs Sign requests through c, one at a time, and returns
// each call's wall time as SignOp measures it.
func Signs(ctx context.Context, c kqpb.KeyServiceClient, cfg SignConfig) ([]time.Duration, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	op, err := SignOp(c, cfg)
	if err != nil {
		return nil, err
	}
	return Run(ctx, cfg.Runs, op)
}
