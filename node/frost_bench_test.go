package node_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestBenchClusterFrost measures Ed25519 2-of-3 through one cluster with
// FROST on: warm commitments at concurrency 1, beside the tss-lib rows of
// the same cluster (`kq bench --no-presign`, which asks for no
// preprocessed material), taken in turns; node CPU per signature; and
// sustained throughput at concurrency 16. Run with
//
//	KQ_BENCH=1 go test -count=1 -run TestBenchClusterFrost -v -timeout 20m ./node/
func TestBenchClusterFrost(t *testing.T) {
	if os.Getenv("KQ_BENCH") != "1" {
		t.Skip("benchmark; run with KQ_BENCH=1")
	}
	c := startCluster(t, "swtpm")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	s := newFrostSigner(ctx, t, c)
	s.warm(ctx)
	const rounds = 3
	var frost, tsslib []benchResult
	for range rounds {
		frost = append(frost, kqBench(t, c, "--key", "ed", "--requests", "40", "--duration", "5m"))
		tsslib = append(tsslib, kqBench(t, c, "--key", "ed", "--no-presign", "--requests", "10", "--duration", "5m"))
	}
	sustained := kqBench(t, c, "--key", "ed", "--concurrency", "16", "--duration", "30s")
	pick := func(rs []benchResult, f func(benchResult) float64) float64 {
		xs := make([]float64, len(rs))
		for i, r := range rs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	p := func(q string) func(benchResult) float64 { return func(r benchResult) float64 { return r.LatencyMS[q] } }
	cpu := func(r benchResult) float64 { return r.CPUPerSig * 1000 }
	var b strings.Builder
	fmt.Fprintf(&b, "FROST rows (%d cores, median of %d rounds taken in turns):\n", runtime.NumCPU(), rounds)
	fmt.Fprintf(&b, "| cluster Ed25519 2-of-3 FROST, warm commitments, c=1 | p50 %.1f ms, p99 %.1f ms | node CPU %.2f ms/sig |\n",
		pick(frost, p("p50")), pick(frost, p("p99")), pick(frost, cpu))
	fmt.Fprintf(&b, "| cluster Ed25519 2-of-3 tss-lib, same cluster, c=1 | p50 %.1f ms, p99 %.1f ms | node CPU %.2f ms/sig |\n",
		pick(tsslib, p("p50")), pick(tsslib, p("p99")), pick(tsslib, cpu))
	fmt.Fprintf(&b, "| cluster Ed25519 2-of-3 FROST, c=16, 30 s | %.0f sig/s, p50 %.1f ms, p99 %.1f ms, %d errors | node CPU %.2f ms/sig |\n",
		sustained.Throughput, sustained.LatencyMS["p50"], sustained.LatencyMS["p99"], sustained.Errors, sustained.CPUPerSig*1000)
	t.Log("\n" + b.String())
}
