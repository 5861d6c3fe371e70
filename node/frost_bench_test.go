package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// TestBenchClusterFrost measures Ed25519 2-of-3 through one cluster with
// FROST on: warm commitments at concurrency 1, beside the tss-lib rows of
// the same cluster (`kq bench --no-presign`, which asks for no
// preprocessed material), taken in turns; node CPU per signature; and
// sustained throughput at concurrency 16. Run with
//
//	KQ_BENCH=1 go test -count=1 -run TestBenchClusterFrost -v -timeout 20m ./node/
//
// KQ_BENCH_BASE=<dir holding kqd and kq of another build> adds a second
// cluster from those binaries, measured in turns with this build's, so a
// change is judged by ratios within one run on a noisy machine (the
// baseline's tss-lib rows are left out). KQ_BENCH_PROFILE=<dir> ends the
// run with 10 s of FROST signatures at concurrency 1 while every node
// records a CPU profile (kqd --cpu-profile), written to
// <dir>/frost-<node>.pprof; `go tool pprof -top bin/kqd <dir>/*.pprof`
// merges them.
func TestBenchClusterFrost(t *testing.T) {
	if os.Getenv("KQ_BENCH") != "1" {
		t.Skip("benchmark; run with KQ_BENCH=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	profileDir := os.Getenv("KQ_BENCH_PROFILE")
	c := startCluster(t, "swtpm", func(o *cluster.Options) { o.CPUProfile = profileDir != "" })
	newFrostSigner(ctx, t, c).warm(ctx)
	var base *cluster.Cluster
	if dir := os.Getenv("KQ_BENCH_BASE"); dir != "" {
		base = startCluster(t, "swtpm", func(o *cluster.Options) { o.BinDir = dir })
		bs := newFrostSigner(ctx, t, base)
		bs.noCommitments = true
		bs.warm(ctx)
	}
	const rounds = 5
	var frost, tsslib, baseFrost []benchResult
	for range rounds {
		if base != nil {
			baseFrost = append(baseFrost, kqBench(t, base, "--key", "ed", "--requests", "60", "--duration", "5m"))
		}
		frost = append(frost, kqBench(t, c, "--key", "ed", "--requests", "60", "--duration", "5m"))
		tsslib = append(tsslib, kqBench(t, c, "--key", "ed", "--no-presign", "--requests", "10", "--duration", "5m"))
	}
	var baseSustained benchResult
	if base != nil {
		baseSustained = kqBench(t, base, "--key", "ed", "--concurrency", "16", "--duration", "30s")
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
	row := func(name string, rs []benchResult) {
		fmt.Fprintf(&b, "| %s | p50 %.1f ms, p99 %.1f ms | node CPU %.2f ms/sig |\n", name, pick(rs, p("p50")), pick(rs, p("p99")), pick(rs, cpu))
	}
	sus := func(name string, r benchResult) {
		fmt.Fprintf(&b, "| %s | %.0f sig/s, p50 %.1f ms, p99 %.1f ms, %d errors | node CPU %.2f ms/sig |\n",
			name, r.Throughput, r.LatencyMS["p50"], r.LatencyMS["p99"], r.Errors, r.CPUPerSig*1000)
	}
	if base != nil {
		row("baseline build: cluster Ed25519 2-of-3 FROST, warm commitments, c=1", baseFrost)
	}
	row("cluster Ed25519 2-of-3 FROST, warm commitments, c=1", frost)
	row("cluster Ed25519 2-of-3 tss-lib, same cluster, c=1", tsslib)
	if base != nil {
		sus("baseline build: cluster Ed25519 2-of-3 FROST, c=16, 30 s", baseSustained)
	}
	sus("cluster Ed25519 2-of-3 FROST, c=16, 30 s", sustained)
	t.Log("\n" + b.String())
	if profileDir != "" {
		profileFrost(ctx, t, c, profileDir)
	}
}

// profileFrost records every node's CPU profile over 10 s of FROST
// signatures at concurrency 1 and writes them to dir.
func profileFrost(ctx context.Context, t *testing.T, c *cluster.Cluster, dir string) {
	const d = 10 * time.Second
	type prof struct {
		id  string
		b   []byte
		err error
	}
	got := make(chan prof, len(c.IDs()))
	for _, id := range c.IDs() {
		go func() {
			b, err := c.CPUProfile(ctx, id, d)
			got <- prof{id, b, err}
		}()
	}
	r := kqBench(t, c, "--key", "ed", "--duration", d.String())
	t.Logf("profiled: %d signatures, node CPU %.2f ms/sig", r.OK, r.CPUPerSig*1000)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for range c.IDs() {
		p := <-got
		if p.err != nil {
			t.Fatal(p.err)
		}
		path := filepath.Join(dir, "frost-"+p.id+".pprof")
		if err := os.WriteFile(path, p.b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
}
