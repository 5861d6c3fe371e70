package estimate

import (
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/node/metrics"
)

// TestDurationsEstimateTheMedianOfRecentRuns: the estimate is the median
// of the last keepDurations runs per operation and algorithm, so one run
// slowed by a fault does not move it, and old runs age out.
func TestDurationsEstimateTheMedianOfRecentRuns(t *testing.T) {
	d := New()
	if got := d.Estimates(); len(got) != 0 {
		t.Fatalf("estimates before any run: %v", got)
	}
	for _, s := range []int{100, 100, 100, 9, 11, 10, 12, 10, 900, 10} { // the first three age out
		d.Add(metrics.KindKeygen, kqpb.AlgorithmNameECDSA, time.Duration(s)*time.Second)
	}
	d.Add(metrics.KindRefresh, kqpb.AlgorithmNameEd25519, 300*time.Millisecond)
	d.Add(metrics.KindKeygen, "unknown-algorithm", time.Second) // not shown: no wire name
	got := d.Estimates()
	if len(got) != 2 {
		t.Fatalf("estimates = %v, want 2", got)
	}
	if e := got[0]; e.Operation != metrics.KindKeygen || e.Algorithm != kqpb.Algorithm_ECDSA_SECP256K1 || e.Seconds != 11 || e.Samples != keepDurations {
		t.Errorf("keygen estimate = %v, want 11 s over %d runs", e, keepDurations)
	}
	if e := got[1]; e.Operation != metrics.KindRefresh || e.Algorithm != kqpb.Algorithm_ED25519 || e.Seconds != 0.3 || e.Samples != 1 {
		t.Errorf("refresh estimate = %v", e)
	}
}
