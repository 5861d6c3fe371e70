package node_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// TestBenchAuditSignLatency measures sequential sign latency through the
// leader on a 3-node swtpm cluster, for comparing builds with and without
// the audit trail: KQ_BENCH_BINDIR points at the kqd/kq to measure
// (default: this tree's). Like TestBenchClusterSign it is a benchmark, not
// a feature test, so `make test` leaves it out.
func TestBenchAuditSignLatency(t *testing.T) {
	if os.Getenv("KQ_BENCH") != "1" {
		t.Skip("benchmark; run with KQ_BENCH=1")
	}
	c := startCluster(t, "swtpm", func(o *cluster.Options) {
		if d := os.Getenv("KQ_BENCH_BINDIR"); d != "" {
			o.BinDir = d
		}
	})
	var k keyJSON
	kqJSON(t, c, &k, "key", "create", "bench-ed", "--algorithm", "ed25519")
	var st struct {
		Leader string `json:"leader"`
	}
	kqJSON(t, c, &st, "status")
	cl, err := c.Client(st.Leader)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const warm, runs = 5, 60
	var lat []time.Duration
	for i := range warm + runs {
		start := time.Now()
		if _, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "bench-ed", Digest: []byte(fmt.Sprintf("bench %d", i))}); err != nil {
			t.Fatal(err)
		}
		if i >= warm {
			lat = append(lat, time.Since(start))
		}
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	t.Logf("ed25519 sign via leader, %d runs: mean %s p50 %s p90 %s", runs, (sum / runs).Round(time.Microsecond),
		lat[runs/2].Round(time.Microsecond), lat[runs*9/10].Round(time.Microsecond))
}
