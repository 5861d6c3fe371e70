package node_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/tss/frost"
	"github.com/keyquorum/keyquorum/tss/frost/frosttest"
)

// TestBenchClusterFrost measures issue 19's rows in one run, so that they
// are compared with each other rather than with numbers from another day:
//
//   - in-process FROST 2-of-3 and 3-of-5: both rounds for every signer and
//     the coordinator's aggregation, no network;
//   - Ed25519 2-of-3 through a cluster with FROST on (warm commitments,
//     concurrency 1), node CPU per signature, and beside it, in turns, the
//     same cluster and key through tss-lib (`kq bench --no-presign`), the
//     same rows on a build without the audit trail, and one durable raft
//     entry (IssueHandle through the leader): the floor a signature's
//     two entries stand on;
//   - sustained throughput at concurrency 16;
//   - 3-of-5 through a 5-node cluster, FROST and tss-lib.
//
// `make bench` runs it; alone:
//
//	KQ_BENCH=1 go test -count=1 -run TestBenchClusterFrost -v -timeout 30m ./node/
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
	requireBench(t)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	// The in-process rows first, before any cluster loads the cores.
	inProc2, inProc3 := frostInProcess(t, 2, 3), frostInProcess(t, 3, 5)

	profileDir := os.Getenv("KQ_BENCH_PROFILE")
	c := startCluster(t, "swtpm", func(o *cluster.Options) { o.CPUProfile = profileDir != "" })
	newFrostSigner(ctx, t, c).warm(ctx)
	na := startCluster(t, "swtpm", func(o *cluster.Options) { o.BinDir = buildNoAudit(t) })
	nas := newFrostSigner(ctx, t, na)
	nas.noCommitments = true // the build without audit reports the same; its answers are not what is measured
	nas.warm(ctx)
	var base *cluster.Cluster
	if dir := os.Getenv("KQ_BENCH_BASE"); dir != "" {
		base = startCluster(t, "swtpm", func(o *cluster.Options) { o.BinDir = dir })
		bs := newFrostSigner(ctx, t, base)
		bs.noCommitments = true
		bs.warm(ctx)
	}
	const rounds = 5
	var frost, tsslib, noAudit, baseFrost []benchResult
	var entry, entryCPU []float64
	for range rounds {
		if base != nil {
			baseFrost = append(baseFrost, kqBench(t, base, "--key", "ed", "--requests", "60", "--duration", "5m"))
		}
		frost = append(frost, kqBench(t, c, "--key", "ed", "--requests", "60", "--duration", "5m"))
		noAudit = append(noAudit, kqBench(t, na, "--key", "ed", "--requests", "60", "--duration", "5m"))
		p50, cpu := entryCost(ctx, t, c, 60)
		entry, entryCPU = append(entry, p50), append(entryCPU, cpu)
		tsslib = append(tsslib, kqBench(t, c, "--key", "ed", "--no-presign", "--requests", "10", "--duration", "5m"))
	}
	na.Stop()
	var baseSustained benchResult
	if base != nil {
		baseSustained = kqBench(t, base, "--key", "ed", "--concurrency", "16", "--duration", "30s")
		base.Stop()
	}
	sustained := kqBench(t, c, "--key", "ed", "--concurrency", "16", "--duration", "30s")
	if profileDir != "" {
		profileFrost(ctx, t, c, profileDir)
	}
	c.Stop()

	c5 := startCluster(t, "swtpm", func(o *cluster.Options) { o.Nodes, o.Threshold = 5, 2 })
	newFrostSigner(ctx, t, c5).warm(ctx)
	var frost5, tsslib5 []benchResult
	for range 3 {
		frost5 = append(frost5, kqBench(t, c5, "--key", "ed", "--requests", "60", "--duration", "5m"))
		tsslib5 = append(tsslib5, kqBench(t, c5, "--key", "ed", "--no-presign", "--requests", "10", "--duration", "5m"))
	}

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
	fmt.Fprintf(&b, "\n## FROST: issue 19's rows in one run\n\n"+
		"Measured with `KQ_BENCH=1 go test -count=1 -run TestBenchClusterFrost -v -timeout 30m ./node/`\n"+
		"(node/frost_bench_test.go, part of `make bench`) on %d cores: swtpm-backed clusters, `kq bench`\n"+
		"through the leader, node CPU summed over the kqd processes from /proc. Cluster rows are medians\n"+
		"of %d rounds (3 for 3-of-5) taken in turns: FROST, FROST on a build without the audit trail,\n"+
		"one durable raft entry, tss-lib on the same cluster and key.\n\n", runtime.NumCPU(), rounds)
	b.WriteString("| row | result | target |\n| --- | --- | --- |\n")
	fmt.Fprintf(&b, "| in-process FROST 2-of-3 sign, both rounds, all parties | %s | ≤ 0.5 ms |\n", inProc2)
	fmt.Fprintf(&b, "| in-process FROST 3-of-5 sign, both rounds, all parties | %s | measured |\n", inProc3)
	row := func(name string, rs []benchResult, target string) {
		fmt.Fprintf(&b, "| %s | p50 %.1f ms, p99 %.1f ms, node CPU %.2f ms/sig | %s |\n", name, pick(rs, p("p50")), pick(rs, p("p99")), pick(rs, cpu), target)
	}
	sus := func(name string, r benchResult, target string) {
		fmt.Fprintf(&b, "| %s | %.0f sig/s, p50 %.1f ms, p99 %.1f ms, %d errors, node CPU %.2f ms/sig | %s |\n",
			name, r.Throughput, r.LatencyMS["p50"], r.LatencyMS["p99"], r.Errors, r.CPUPerSig*1000, target)
	}
	if base != nil {
		row("baseline build: cluster Ed25519 2-of-3 FROST, warm commitments, c=1", baseFrost, "measured")
	}
	row("cluster Ed25519 2-of-3 FROST, warm commitments, c=1", frost, "p50 ≤ 6 ms, p99 ≤ 15 ms, CPU ≤ 2 ms")
	row("cluster Ed25519 2-of-3 tss-lib, same cluster and key, c=1", tsslib, "measured")
	fmt.Fprintf(&b, "| FROST against tss-lib, p50 | %.1fx faster | ≥ 5x |\n", pick(tsslib, p("p50"))/pick(frost, p("p50")))
	row("cluster Ed25519 2-of-3 FROST without the audit trail (build tag kqd_noaudit), c=1", noAudit, "measured")
	fmt.Fprintf(&b, "| audit cost on the FROST path, p50 with / without | %.1f ms / %.1f ms = %+.0f%% | ≤ +10%% |\n",
		pick(frost, p("p50")), pick(noAudit, p("p50")), 100*(pick(frost, p("p50"))/pick(noAudit, p("p50"))-1))
	fmt.Fprintf(&b, "| one durable raft entry through the leader (IssueHandle), c=1 | p50 %.1f ms (%s), node CPU %.2f ms/entry; a FROST signature is %.1fx that p50 and %.1fx that CPU | measured |\n",
		median(entry), roundsOf(entry), median(entryCPU), pick(frost, p("p50"))/median(entry), pick(frost, cpu)/median(entryCPU))
	if base != nil {
		sus("baseline build: cluster Ed25519 2-of-3 FROST, c=16, 30 s", baseSustained, "measured")
	}
	sus("cluster Ed25519 2-of-3 FROST, c=16, 30 s", sustained, "≥ 200 sig/s")
	row("cluster Ed25519 3-of-5 FROST, warm commitments, c=1", frost5, "measured")
	row("cluster Ed25519 3-of-5 tss-lib, same cluster and key, c=1", tsslib5, "measured")
	writeBenchReport(t, b.String())
}

// frostInProcess times an in-process FROST signature with minSigners of
// n parties: each signer's round one and round two, then the
// coordinator's aggregation (which verifies the signature). It returns the
// wall time and CPU time per signature, formatted for the report.
func frostInProcess(t *testing.T, minSigners, n int) string {
	t.Helper()
	d, err := frosttest.Deal(rand.Reader, minSigners, frosttest.SmallIDs(n))
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("keyquorum benchmark digest 32 b.")
	var failed error
	cpuBefore := processCPU(t)
	r := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			nonces := make([]frost.Nonces, minSigners)
			commitments := make([]frost.Commitment, minSigners)
			for i := range minSigners {
				if nonces[i], commitments[i], err = frost.Commit(d.Shares[i], rand.Reader); err != nil {
					failed = err
					return
				}
			}
			shares := make([]frost.SignatureShare, minSigners)
			for i := range minSigners {
				if shares[i], err = frost.Sign(d.Shares[i], nonces[i], msg, commitments); err != nil {
					failed = err
					return
				}
			}
			if _, err := d.Group.Aggregate(msg, commitments, shares); err != nil {
				failed = err
				return
			}
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	cpu := (processCPU(t) - cpuBefore) / time.Duration(max(r.N, 1))
	return fmt.Sprintf("%.3f ms wall (%d signatures), CPU %.3f ms", float64(r.NsPerOp())/1e6, r.N, cpu.Seconds()*1000)
}

// processCPU is this process's user and system CPU time so far.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// entryCost issues n handles one at a time through the leader, each one
// durable raft entry and nothing else, and returns the median latency and
// the node CPU per entry, both in milliseconds.
func entryCost(ctx context.Context, t *testing.T, c *cluster.Cluster, n int) (p50, cpu float64) {
	t.Helper()
	cl, err := c.Client(leaderOf(ctx, t, c))
	if err != nil {
		t.Fatal(err)
	}
	lat := make([]float64, 0, n)
	before := clusterCPU(t, c)
	for range n {
		start := time.Now()
		if _, err := cl.IssueHandle(ctx, &kqpb.IssueHandleRequest{Key: "ed", Purpose: "sign", TtlMs: 60_000,
			RequestId: fmt.Sprintf("entry-%d", time.Now().UnixNano())}); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, msOf(time.Since(start)))
	}
	return median(lat), msOf(clusterCPU(t, c)-before) / float64(n)
}

// clusterCPU sums the user and system CPU time of the cluster's kqd
// processes, from /proc/PID/stat (fields 14 and 15, in USER_HZ ticks of
// 10 ms on every Linux architecture Go supports).
func clusterCPU(t *testing.T, c *cluster.Cluster) time.Duration {
	t.Helper()
	var total time.Duration
	for _, id := range c.IDs() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.PID(id)))
		if err != nil {
			t.Fatal(err)
		}
		// The command name (field 2) may hold spaces; count from its ')'.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		for _, f := range fields[11:13] {
			ticks, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			total += time.Duration(ticks) * 10 * time.Millisecond
		}
	}
	return total
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
