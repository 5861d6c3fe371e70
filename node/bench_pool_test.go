package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/bench"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/tss"
)

// benchResult is the part of `kq bench -o json` the report uses.
type benchResult struct {
	OK         uint64             `json:"ok"`
	Errors     uint64             `json:"errors"`
	Presigned  uint64             `json:"presigned"`
	Seconds    float64            `json:"seconds"`
	Throughput float64            `json:"throughput_per_s"`
	LatencyMS  map[string]float64 `json:"latency_ms"`
	CPUPerSig  float64            `json:"node_cpu_seconds_per_signature"`
	FirstError string             `json:"first_error"`
}

// TestBenchPresignPool measures the rows of the presignature work through
// `kq bench` against real clusters: the full protocol against in-process
// tss-lib, the warm pool, Ed25519, sustained throughput against the CPU
// ceiling, and 3-of-5. It appends its section to $KQ_BENCH_OUT.
func TestBenchPresignPool(t *testing.T) {
	// A benchmark, not a feature test: minutes of CPU, and numbers that only
	// mean something on a quiet machine. `make bench` runs it.
	requireBench(t)
	const runs = 20
	// Ed25519 rounds are cheap; more of them steady a row whose gap to
	// its reference is a few milliseconds.
	const edRounds = 5
	// The in-process reference first, before any cluster loads the cores.
	_, rawECDSA, _ := benchInProcess(t, tss.ECDSASecp256k1)
	_, rawEd, _ := benchInProcess(t, tss.Ed25519)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	refECDSA := benchStats(t, ctx, rawECDSA, runs)

	pool := func(n int) func(*cluster.Options) {
		return func(o *cluster.Options) {
			o.SignTimeout = 30 * time.Second
			o.ExtraConfig = fmt.Sprintf("presign:\n  pool: %d\n", n)
		}
	}
	c := startCluster(t, "swtpm", pool(32))
	cl, err := testClient(c, leaderOf(ctx, t, c))
	if err != nil {
		t.Fatal(err)
	}
	// The audit trail's cost: the same rows on a build without it, in a
	// second cluster that runs beside the first so that the two are
	// measured in turns rather than minutes apart.
	ca := startCluster(t, "swtpm", pool(32), func(o *cluster.Options) { o.BinDir = buildNoAudit(t) })
	cla, err := testClient(ca, leaderOf(ctx, t, ca))
	if err != nil {
		t.Fatal(err)
	}
	for _, cc := range []kqpb.KeyServiceClient{cl, cla} {
		createKey(ctx, t, cc, "ec", kqpb.Algorithm_ECDSA_SECP256K1)
		createKey(ctx, t, cc, "ed", kqpb.Algorithm_ED25519)
	}
	// Ed25519 first, with both ECDSA pools full: a refill running beside
	// it would take CPU that the in-process reference never lost. The
	// reference, the cluster and the cluster without audit take turns, so
	// a change in machine load hits all three alike; each gives the median
	// of its rounds' p50s.
	waitPresigs(ctx, t, cl, 32)
	waitPresigs(ctx, t, cla, 32)
	var refEdP50, edP50, edNAP50 []float64
	for range edRounds {
		refEdP50 = append(refEdP50, msOf(benchStats(t, ctx, rawEd, runs).P50))
		edP50 = append(edP50, kqBench(t, c, "--key", "ed", "--requests", fmt.Sprint(runs), "--duration", "5m").LatencyMS["p50"])
		edNAP50 = append(edNAP50, kqBench(t, ca, "--key", "ed", "--requests", fmt.Sprint(runs), "--duration", "5m").LatencyMS["p50"])
	}
	refEd, ed, edNA := median(refEdP50), median(edP50), median(edNAP50)
	warm := kqBench(t, c, "--key", "ec", "--requests", fmt.Sprint(runs), "--duration", "5m")
	warmNA := kqBench(t, ca, "--key", "ec", "--requests", fmt.Sprint(runs), "--duration", "5m")
	ca.Stop()

	// The warm rows spent presignatures; the full-protocol row must not
	// share the cores (or its CPU count) with their refill.
	waitPresigs(ctx, t, cl, 32)
	full := kqBench(t, c, "--key", "ec", "--no-presign", "--requests", "15", "--duration", "5m")
	waitPresigs(ctx, t, cl, 32)
	before, err := cl.GetKey(ctx, &kqpb.GetKeyRequest{Name: "ec"})
	if err != nil {
		t.Fatal(err)
	}
	sustained := kqBench(t, c, "--key", "ec", "--concurrency", "4", "--duration", "60s")
	// Presignatures made before the window were paid for outside it; the
	// fair throughput counts only signatures whose whole cost fell inside.
	prepaid := min(uint64(before.PresigsReady), sustained.Presigned)
	fair := float64(sustained.OK-prepaid) / sustained.Seconds
	c.Stop()

	c5 := startCluster(t, "swtpm", pool(8), func(o *cluster.Options) { o.Nodes, o.Threshold = 5, 2 })
	cl5, err := testClient(c5, leaderOf(ctx, t, c5))
	if err != nil {
		t.Fatal(err)
	}
	createKey(ctx, t, cl5, "ec", kqpb.Algorithm_ECDSA_SECP256K1)
	waitPresigs(ctx, t, cl5, 8)
	full5 := kqBench(t, c5, "--key", "ec", "--no-presign", "--requests", "8", "--duration", "5m")
	waitPresigs(ctx, t, cl5, 8)
	warm5 := kqBench(t, c5, "--key", "ec", "--requests", "8", "--duration", "5m")

	cores := float64(runtime.NumCPU())
	ceiling := cores / full.CPUPerSig
	var b strings.Builder
	fmt.Fprintf(&b, "\n## The presignature pool\n\n")
	fmt.Fprintf(&b, "Measured with `kq bench` (latencies through the leader, node CPU from /proc) by\n"+
		"`KQ_BENCH=1 go test -count=1 -run TestBenchPresignPool -v -timeout 30m ./node/`, all rows in one run.\n"+
		"Pool size 32 per key (8 for 3-of-5); \"warm\" waits until the pool is full.\n"+
		"Ed25519 rows are the median p50 of %d rounds of %d signatures, taken in turns (in process, cluster,\n"+
		"cluster without audit); the rounds' p50s are in parentheses.\n\n", edRounds, runs)
	b.WriteString("| row | result | target |\n| --- | --- | --- |\n")
	fmt.Fprintf(&b, "| in-process tss-lib ECDSA 2-of-3 sign (reference) | p50 %s | measured |\n", bench.Millis(refECDSA.P50))
	fmt.Fprintf(&b, "| cluster ECDSA 2-of-3, full protocol (`--no-presign`), p50 | %.1f ms = %.2f × reference | ≤ 1.1 × |\n",
		full.LatencyMS["p50"], full.LatencyMS["p50"]/msOf(refECDSA.P50))
	fmt.Fprintf(&b, "| cluster ECDSA 2-of-3, warm pool, concurrency 1, p50 / p99 | %.1f ms / %.1f ms (%d of %d presigned) | ≤ 10 ms / ≤ 30 ms |\n",
		warm.LatencyMS["p50"], warm.LatencyMS["p99"], warm.Presigned, warm.OK)
	fmt.Fprintf(&b, "| in-process tss-lib Ed25519 2-of-3 sign, in turns with the cluster rows | p50 %.1f ms (%s) | measured |\n", refEd, roundsOf(refEdP50))
	fmt.Fprintf(&b, "| cluster Ed25519 2-of-3 (full protocol), p50 | %.1f ms = %.2f × in-process (%s) | ≤ 1.2 × |\n",
		ed, ed/refEd, roundsOf(edP50))
	fmt.Fprintf(&b, "| node CPU per full ECDSA signature (3 nodes) | %.0f ms → ceiling %.2f sig/s on %.0f cores | measured |\n",
		full.CPUPerSig*1000, ceiling, cores)
	fmt.Fprintf(&b, "| sustained ECDSA, 60 s, concurrency 4, pool refilling | %.2f sig/s = %.0f%% of the ceiling, not counting the %d presignatures ready at the start (%.2f sig/s counting them; %d presigned of %d, %d errors) | ≥ 85%% |\n",
		fair, 100*fair/ceiling, prepaid, sustained.Throughput, sustained.Presigned, sustained.OK, sustained.Errors)
	fmt.Fprintf(&b, "| audit cost: Ed25519 sign p50 with / without the audit trail | %.1f ms / %.1f ms = %+.0f%% (without: %s) | ≤ +10%% |\n",
		ed, edNA, 100*(ed/edNA-1), roundsOf(edNAP50))
	fmt.Fprintf(&b, "| audit cost: ECDSA warm-pool sign p50 with / without the audit trail | %.1f ms / %.1f ms = %+.0f%% | ≤ +10%% |\n",
		warm.LatencyMS["p50"], warmNA.LatencyMS["p50"], 100*(warm.LatencyMS["p50"]/warmNA.LatencyMS["p50"]-1))
	fmt.Fprintf(&b, "| cluster ECDSA 3-of-5, full protocol, p50 | %.1f ms | measured |\n", full5.LatencyMS["p50"])
	fmt.Fprintf(&b, "| cluster ECDSA 3-of-5, warm pool, p50 / p99 | %.1f ms / %.1f ms (%d of %d presigned) | measured |\n",
		warm5.LatencyMS["p50"], warm5.LatencyMS["p99"], warm5.Presigned, warm5.OK)
	writeBenchReport(t, b.String())
}

// buildNoAudit builds kqd and kq with the audit trail compiled out, only
// to measure what the trail costs.
func buildNoAudit(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-tags", "kqd_noaudit", "-o", dir+"/", "./cmd/kqd", "./cmd/kq")
	build.Dir = repoPath(".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build without audit: %v: %s", err, out)
	}
	return dir
}

func benchStats(t *testing.T, ctx context.Context, op bench.Op, n int) bench.Stats {
	t.Helper()
	samples, err := bench.Run(ctx, n, op)
	if err != nil {
		t.Fatal(err)
	}
	return bench.Summarize(samples)
}

// median returns the middle of xs (the mean of the two middle ones for an
// even count).
func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// roundsOf lists per-round results for the report.
func roundsOf(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%.1f", x)
	}
	return strings.Join(parts, ", ")
}

func msOf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// kqBench runs `kq bench` against the cluster and decodes its JSON.
func kqBench(t *testing.T, c *cluster.Cluster, args ...string) benchResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := c.KQ(ctx, append(append([]string{"bench"}, args...), "-o", "json", "--timeout", "10m")...)
	if err != nil {
		t.Fatal(err)
	}
	var r benchResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("kq bench %v: %v: %s", args, err, out)
	}
	if r.OK == 0 {
		t.Fatalf("kq bench %v: no signature: %s", args, r.FirstError)
	}
	t.Logf("kq bench %v: %+v", args, r)
	return r
}
