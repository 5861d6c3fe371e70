package node_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/bench"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/tss"
)

// TestBenchSignUnderFlood measures sign latency on a 3-node cluster of
// kqd_bugs builds while one member (a follower) floods its peers with junk
// round messages (the flood-messages bug: 800 messages of 4 KiB a second
// to each peer, for sessions that never start), against the same cluster
// without the flood before and after it, in one run: A (quiet), B (the
// follower restarted flooding), A' (restarted honest). Signatures are
// Ed25519 through tss-lib's rounds (full protocol, every round over the
// peer links) and FROST (the default path). The per-sender share of the
// pending buffer must drop the flood; the target is that signatures keep
// p50 and p99 within 2x of the quiet phases'. `make bench` runs it and
// appends its table to $KQ_BENCH_OUT.
func TestBenchSignUnderFlood(t *testing.T) {
	requireBench(t)
	n := 150
	if s := os.Getenv("KQ_BENCH_FLOOD_SIGNS"); s != "" {
		fmt.Sscan(s, &n)
	}
	c := startCluster(t, "simulator", func(o *cluster.Options) { o.BinDir, o.Metrics = bugsBinDir(t), true })
	leader, flooder := clusterRoles(t, c)
	kc := benchClient(t, c, leader)
	_, pub := benchCreateKey(t, kc, "flood-ed", tss.Ed25519)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	verifyKey := ed25519.PublicKey(pub)

	// phase signs n times on each path and returns the latencies, split
	// by whether the flooder was in the committee that signed.
	type sample struct {
		d    time.Duration
		with bool
	}
	cpu := map[string]map[string]float64{} // phase -> node -> CPU seconds
	phase := func(label string) map[bool][]sample {
		before := cpuSeconds(ctx, t, c)
		defer func() {
			after := cpuSeconds(ctx, t, c)
			cpu[label] = map[string]float64{}
			for id, s := range after {
				cpu[label][id] = s - before[id]
			}
		}()
		out := map[bool][]sample{}
		for i := range 2 * n {
			full := i%2 == 0
			msg := fmt.Appendf(nil, "%s %d", label, i)
			start := time.Now()
			cctx, ccancel := context.WithTimeout(ctx, 30*time.Second)
			resp, err := kc.Sign(cctx, &kqpb.SignRequest{Key: "flood-ed", Digest: msg, FullProtocol: full})
			ccancel()
			if err != nil {
				t.Fatalf("%s sign %d: %v", label, i, err)
			}
			d := time.Since(start)
			if !ed25519.Verify(verifyKey, msg, resp.Signature) {
				t.Fatalf("%s sign %d: the signature does not verify", label, i)
			}
			out[full] = append(out[full], sample{d, slices.Contains(resp.Committee, flooder)})
		}
		return out
	}
	restart := func(bugs string) {
		t.Helper()
		c.StopNode(flooder)
		c.SetNodeBugs(flooder, bugs)
		if err := c.StartNode(flooder); err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithTimeout(ctx, time.Minute)
		defer rcancel()
		if err := c.WaitReady(rctx, true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Second) // let the flood fill its share
	}
	phase("warm-up")
	quiet := phase("quiet")
	restart("flood-messages")
	flood := phase("flood")
	dropped := droppedFrom(ctx, t, c, leader, flooder)
	restart("")
	quiet2 := phase("quiet-again")

	durations := func(ss []sample, committee func(bool) bool) []time.Duration {
		var out []time.Duration
		for _, s := range ss {
			if committee(s.with) {
				out = append(out, s.d)
			}
		}
		return out
	}
	all := func(bool) bool { return true }
	without := func(with bool) bool { return !with }
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Signing while a member floods\n\n")
	fmt.Fprintf(&b, "`KQ_BENCH=1 go test -count=1 -run TestBenchSignUnderFlood -v -timeout 30m ./node/`: 3 kqd_bugs nodes\n"+
		"(simulator TPM), one Ed25519 key, %d signatures per path and phase from one client through the leader %s;\n"+
		"phases in one run: quiet, %s restarted with `flood-messages` (junk round messages for sessions that never\n"+
		"start, 800 a second of 4 KiB to each peer), %s restarted honest. Load average at the end: %s. The leader\n"+
		"dropped %s of %s's messages over its share of the pending buffer (`keyquorum_pending_dropped_total`).\n\n",
		n, leader, flooder, flooder, loadAverage(), dropped, flooder)
	b.WriteString("| path | committees | quiet p50 / p99 | flood p50 / p99 | quiet again p50 / p99 | flood ÷ quiet (mean of both), p50 / p99 | target |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, full := range []bool{true, false} {
		path := "FROST (default)"
		if full {
			path = "tss-lib rounds (full protocol)"
		}
		for _, sel := range []struct {
			name string
			f    func(bool) bool
		}{{"all", all}, {"without " + flooder, without}} {
			q, f, q2 := durations(quiet[full], sel.f), durations(flood[full], sel.f), durations(quiet2[full], sel.f)
			p := func(xs []time.Duration, pr float64) time.Duration { return bench.Percentile(xs, pr) }
			ratio := func(pr float64) float64 {
				return bench.Ratio(p(f, pr), (p(q, pr)+p(q2, pr))/2)
			}
			fmt.Fprintf(&b, "| %s | %s (n=%d/%d/%d) | %s / %s | %s / %s | %s / %s | ×%.2f / ×%.2f | ≤ ×2 |\n",
				path, sel.name, len(q), len(f), len(q2),
				bench.Millis(p(q, .5)), bench.Millis(p(q, .99)), bench.Millis(p(f, .5)), bench.Millis(p(f, .99)),
				bench.Millis(p(q2, .5)), bench.Millis(p(q2, .99)), ratio(.5), ratio(.99))
		}
	}
	b.WriteString("\nCPU seconds each process used during a phase (`process_cpu_seconds_total`):\n\n| phase |")
	for _, id := range c.IDs() {
		fmt.Fprintf(&b, " %s |", id)
	}
	b.WriteString("\n| --- |" + strings.Repeat(" ---: |", len(c.IDs())) + "\n")
	for _, ph := range []string{"quiet", "flood", "quiet-again"} {
		fmt.Fprintf(&b, "| %s |", ph)
		for _, id := range c.IDs() {
			fmt.Fprintf(&b, " %.1f |", cpu[ph][id])
		}
		b.WriteString("\n")
	}
	writeBenchReport(t, b.String())
}

// droppedFrom reads how many of peer's messages node id dropped over the
// peer's share of its pending buffer, from its metrics.
func droppedFrom(ctx context.Context, t *testing.T, c *cluster.Cluster, id, peer string) string {
	t.Helper()
	m, err := c.Scrape(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`keyquorum_pending_dropped_total\{peer="` + regexp.QuoteMeta(peer) + `"\} (\S+)`)
	if s := re.FindStringSubmatch(m); s != nil {
		return s[1]
	}
	t.Logf("no pending drops of %s in %s's metrics:\n%s", peer, id, grepLines(m, "keyquorum_pending"))
	return "0"
}

// cpuSeconds reads every node's process_cpu_seconds_total.
func cpuSeconds(ctx context.Context, t *testing.T, c *cluster.Cluster) map[string]float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^process_cpu_seconds_total (\S+)$`)
	out := map[string]float64{}
	for _, id := range c.IDs() {
		m, err := c.Scrape(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if s := re.FindStringSubmatch(m); s != nil {
			v, err := strconv.ParseFloat(s[1], 64)
			if err != nil {
				t.Fatal(err)
			}
			out[id] = v
		}
	}
	return out
}
