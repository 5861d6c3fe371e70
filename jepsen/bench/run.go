package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// Time runs op n times, one after another, and returns each call's wall
// time. It stops at the first error or when ctx ends, returning the samples
// gathered so far with the error. op receives the run index 0..n-1.
func Time(ctx context.Context, n int, op func(ctx context.Context, i int) error) ([]time.Duration, error) {
	if n < 1 {
		return nil, ErrNoRuns
	}
	out := make([]time.Duration, 0, n)
	for i := range n {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("bench: run %d: %w", i, err)
		}
		start := time.Now()
		if err := op(ctx, i); err != nil {
			return out, fmt.Errorf("bench: run %d: %w", i, err)
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// SignConfig describes a run of sequential signatures through one node.
type SignConfig struct {
	// Key is the key name to sign with.
	Key string
	// Runs is how many signatures to request, one at a time.
	Runs int
	// PerCall bounds each Sign call.
	PerCall time.Duration
	// Message returns the digest (ECDSA) or message (Ed25519) for run i.
	Message func(i int) []byte
	// Check, if set, verifies each returned signature outside the timed
	// interval; a false result stops the run with ErrBadSignature.
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

// Signs sends cfg.Runs Sign requests through c, one at a time, and returns
// the wall time of each call as the client sees it (including forwarding to
// the leader, Raft commits and the signing session). Only the RPC is timed;
// message construction and checking are not.
func Signs(ctx context.Context, c kqpb.KeyServiceClient, cfg SignConfig) ([]time.Duration, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	out := make([]time.Duration, 0, cfg.Runs)
	for i := range cfg.Runs {
		msg := cfg.Message(i)
		cctx, cancel := context.WithTimeout(ctx, cfg.PerCall)
		start := time.Now()
		resp, err := c.Sign(cctx, &kqpb.SignRequest{Key: cfg.Key, Digest: msg})
		el := time.Since(start)
		cancel()
		if err != nil {
			return out, fmt.Errorf("bench: sign %s run %d: %w", cfg.Key, i, err)
		}
		if cfg.Check != nil && !cfg.Check(msg, resp.Signature) {
			return out, fmt.Errorf("bench: sign %s run %d: %w", cfg.Key, i, ErrBadSignature)
		}
		out = append(out, el)
	}
	return out, nil
}
