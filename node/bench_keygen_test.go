package node_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/bench"
	"github.com/keyquorum/keyquorum/tss"
)

// TestBenchKeygenUnderLoad creates ECDSA keys back to back on a 3-node
// cluster while a client signs with an Ed25519 key, and reports how many
// leader elections the keygens caused (the raft term on every node before
// and after) and the sign latency before and during the keygens. Keygen
// loads every core for seconds; consensus and the online signing phase
// must not starve. `make bench` runs it.
func TestBenchKeygenUnderLoad(t *testing.T) {
	requireBench(t)
	keygens := 10
	if s := os.Getenv("KQ_BENCH_KEYGENS"); s != "" {
		fmt.Sscan(s, &keygens)
	}
	c := startCluster(t, "simulator")
	leader, _ := clusterRoles(t, c)
	kc := benchClient(t, c, leader)
	_, pub := benchCreateKey(t, kc, "load-ed", tss.Ed25519)

	terms := func() map[string]uint64 {
		out := map[string]uint64{}
		for _, id := range c.IDs() {
			op, err := c.Operator(id)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			st, err := op.Status(ctx, &kqpb.StatusRequest{})
			cancel()
			if err != nil {
				t.Fatalf("status of %s: %v", id, err)
			}
			out[id] = st.Term
		}
		return out
	}
	cfg := bench.DefaultSignConfig("load-ed", 1)
	cfg.PerCall = 30 * time.Second
	cfg.Check = func(msg, sig []byte) bool { return tss.Verify(tss.Ed25519, pub, msg, sig) }
	sign, err := bench.SignOp(kc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var quiet []time.Duration
	for i := range 30 {
		d, err := sign(context.Background(), i)
		if err != nil {
			t.Fatalf("signs before keygen: %v", err)
		}
		quiet = append(quiet, d)
	}

	before := terms()
	ctx, stop := context.WithCancel(context.Background())
	var (
		wg     sync.WaitGroup
		during []time.Duration
		failed int
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1000; ctx.Err() == nil; i++ {
			d, err := sign(ctx, i)
			if err != nil {
				if ctx.Err() == nil {
					failed++
				}
				continue
			}
			during = append(during, d)
		}
	}()
	start := time.Now()
	for i := range keygens {
		benchCreateKey(t, kc, fmt.Sprintf("load-ec-%d", i), tss.ECDSASecp256k1)
	}
	elapsed := time.Since(start)
	stop()
	wg.Wait()
	after := terms()
	elections := uint64(0)
	for id, a := range after {
		elections = max(elections, a-before[id])
	}
	// Why each election started, from the nodes' logs: a follower that
	// missed heartbeats, a leader that lost its lease, or a leader whose
	// clock a quorum contradicted (a transfer).
	causes := map[string]int{}
	for _, id := range c.IDs() {
		b, err := os.ReadFile(c.LogPath(id))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			for _, cause := range []string{"heartbeat timeout reached", "failed to contact quorum", "leadership transfer", "clock"} {
				if strings.Contains(line, cause) && strings.Contains(strings.ToLower(line), "warn") {
					causes[cause]++
				}
			}
		}
	}
	t.Logf("election causes in the logs (warnings): %v", causes)
	q, d := bench.Summarize(quiet), bench.Summarize(during)
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Consensus during ECDSA keygen\n\n")
	fmt.Fprintf(&b, "`KQ_BENCH=1 go test -count=1 -run TestBenchKeygenUnderLoad -v -timeout 30m ./node/`: %d ECDSA keygens\n"+
		"back to back on 3 nodes (simulator TPM, pre-params fixtures) while one client signs with an Ed25519 key.\n"+
		"Load average at the end: %s.\n\n", keygens, loadAverage())
	b.WriteString("| row | result | target |\n| --- | --- | --- |\n")
	fmt.Fprintf(&b, "| leader elections during the keygens (raft term rise) | %d (causes in the logs: %v) | 0 |\n", elections, causes)
	fmt.Fprintf(&b, "| keygens | %d in %s | measured |\n", keygens, elapsed.Round(time.Second))
	fmt.Fprintf(&b, "| Ed25519 sign before / during the keygens, p50 | %s / %s | measured |\n", bench.Millis(q.P50), bench.Millis(d.P50))
	fmt.Fprintf(&b, "| Ed25519 sign during the keygens, p90 / p99 / max (n=%d, %d failed) | %s / %s / %s | measured |\n", d.N, failed,
		bench.Millis(d.P90), bench.Millis(bench.Percentile(during, 0.99)), bench.Millis(d.Max))
	writeBenchReport(t, b.String())
}

// loadAverage is the machine's one-minute load average, as /proc gives it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "unknown"
	}
	return f[0]
}
