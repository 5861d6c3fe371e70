package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// TestLongOperationsEstimateFromStatus: the progress line's total is the
// answering node's estimate for the operation and the key's algorithm
// (looked up when the command names only the key), and 0, a spinner, when
// the node has none.
func TestLongOperationsEstimateFromStatus(t *testing.T) {
	tc := startCluster(t)
	if _, stderr, code := tc.kq(t, "key", "create", "ec", "--algorithm", "ecdsa-secp256k1"); code != 0 {
		t.Fatal(stderr)
	}
	tc.leader.mu.Lock()
	tc.leader.estimates = []*kqpb.OperationEstimate{
		{Operation: "keygen", Algorithm: kqpb.Algorithm_ED25519, Seconds: 0.4, Samples: 2},
		{Operation: "keygen", Algorithm: kqpb.Algorithm_ECDSA_SECP256K1, Seconds: 41.6, Samples: 5},
		{Operation: "refresh", Algorithm: kqpb.Algorithm_ECDSA_SECP256K1, Seconds: 12.2, Samples: 1},
	}
	tc.leader.mu.Unlock()
	opts := &options{configPath: tc.config, timeout: 10 * time.Second, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	c, err := opts.client()
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, f := range opts.atExit {
			f()
		}
	}()
	ctx := context.Background()
	for _, tt := range []struct {
		op   longOp
		want time.Duration
	}{
		{longOp{operation: "keygen", algorithm: kqpb.Algorithm_ECDSA_SECP256K1}, 42 * time.Second},
		{longOp{operation: "keygen", algorithm: kqpb.Algorithm_ED25519}, 0}, // rounds to no estimate: a spinner
		{longOp{operation: "refresh", key: "ec"}, 12 * time.Second},
		{longOp{operation: "refresh", key: "missing"}, 0},
		{longOp{operation: "refresh", algorithm: kqpb.Algorithm_ED25519}, 0},
	} {
		if got := estimate(ctx, c, &tt.op); got != tt.want {
			t.Errorf("estimate(%+v) = %v, want %v", tt.op, got, tt.want)
		}
	}
}
