package node_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/bench"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/tsstest"
)

// benchRuns is how many sequential signatures each row measures.
const benchRuns = 20

// TestBenchClusterSign measures signing latency in one run: the tss engine
// in process (the reference), then a 3-node swtpm cluster through the gRPC
// API, via the leader and via a follower. It writes a markdown report to
// $KQ_BENCH_OUT (relative paths are taken from the repository root), or logs
// it. `make bench` runs it.
func TestBenchClusterSign(t *testing.T) {
	// The one deliberate skip in this package: this is a benchmark, not a
	// feature test. It takes minutes of CPU and its numbers only mean
	// something on a quiet machine, so `make test` leaves it out.
	if os.Getenv("KQ_BENCH") != "1" {
		t.Skip("benchmark; run with KQ_BENCH=1 or `make bench`")
	}
	out := os.Getenv("KQ_BENCH_OUT")
	env := bench.CaptureEnv(benchCommand(out))

	// ECDSA keygen loads every core for seconds; in-process keygens run
	// before the cluster starts so they do not disturb it.
	inprocKeygen := map[tss.Algorithm]time.Duration{}
	inprocSign := map[tss.Algorithm]bench.Op{}
	var inprocOnline bench.Op
	for _, alg := range []tss.Algorithm{tss.ECDSASecp256k1, tss.Ed25519} {
		var online bench.Op
		inprocKeygen[alg], inprocSign[alg], online = benchInProcess(t, alg)
		if online != nil {
			inprocOnline = online
		}
	}

	c := startCluster(t, "swtpm")
	type result struct {
		keygen                           time.Duration
		inproc, online, leader, follower []time.Duration
	}
	results := map[tss.Algorithm]result{}
	// Roles are looked up again before and checked after each algorithm's
	// sign rows: a loaded machine can lose its leader during ECDSA keygen,
	// which would mix paths in a via-leader row.
	var roles []string
	for _, alg := range []tss.Algorithm{tss.ECDSASecp256k1, tss.Ed25519} {
		name := "bench-" + alg.String()
		leader, _ := clusterRoles(t, c)
		if alg == tss.Ed25519 {
			// The ECDSA rows drained the pool; its refill would take CPU
			// from the Ed25519 rows unevenly. Let it finish first.
			waitPoolIdle(t, benchClient(t, c, leader), "bench-"+tss.ECDSASecp256k1.String())
		}
		keygen, pub := benchCreateKey(t, benchClient(t, c, leader), name, alg)
		cfg := bench.DefaultSignConfig(name, benchRuns)
		cfg.PerCall = 60 * time.Second
		cfg.Check = func(msg, sig []byte) bool { return tss.Verify(alg, pub, msg, sig) }
		leader, follower := clusterRoles(t, c)
		viaLeader, err := bench.SignOp(benchClient(t, c, leader), cfg)
		if err != nil {
			t.Fatal(err)
		}
		viaFollower, err := bench.SignOp(benchClient(t, c, follower), cfg)
		if err != nil {
			t.Fatal(err)
		}
		ops := []bench.Op{inprocSign[alg], viaLeader, viaFollower}
		if alg == tss.ECDSASecp256k1 {
			ops = append(ops, inprocOnline)
		}
		s := benchSignRows(t, alg, ops...)
		r := result{keygen: keygen, inproc: s[0], leader: s[1], follower: s[2]}
		if len(s) > 3 {
			r.online = s[3]
		}
		results[alg] = r
		line := fmt.Sprintf("%s sign rows: leader %s, follower %s", benchLabel(alg), leader, follower)
		if after, _ := clusterRoles(t, c); after != leader {
			line += fmt.Sprintf(" (WARNING: leadership moved to %s during these rows, so they mix paths)", after)
		}
		roles = append(roles, line)
	}

	// The note gives both the ratio and the difference of p50s: for Ed25519
	// the fixed per-request cost dominates, for ECDSA the protocol does.
	ratio := func(s []time.Duration, ref bench.Stats) string {
		p50 := bench.Summarize(s).P50
		return fmt.Sprintf("×%.2f, %+.0f ms p50 vs in-process", bench.Ratio(p50, ref.P50), float64(p50-ref.P50)/float64(time.Millisecond))
	}
	rows := []bench.Row{}
	for _, alg := range []tss.Algorithm{tss.ECDSASecp256k1, tss.Ed25519} {
		label := benchLabel(alg)
		cr := results[alg]
		ref := bench.Summarize(cr.inproc)
		rows = append(rows,
			bench.Row{Name: "in-process " + label + " 2-of-3 sign", Stats: ref, Note: "reference"},
			bench.Row{Name: "cluster " + label + " sign via leader", Stats: bench.Summarize(cr.leader), Note: ratio(cr.leader, ref)},
			bench.Row{Name: "cluster " + label + " sign via follower", Stats: bench.Summarize(cr.follower), Note: ratio(cr.follower, ref)},
		)
		if cr.online != nil {
			rows = append(rows, bench.Row{Name: "in-process " + label + " presigned sign, online phase only", Stats: bench.Summarize(cr.online), Note: "presign untimed"})
		}
	}
	for _, alg := range []tss.Algorithm{tss.ECDSASecp256k1, tss.Ed25519} {
		label := benchLabel(alg)
		ref := bench.Summarize([]time.Duration{inprocKeygen[alg]})
		cl := []time.Duration{results[alg].keygen}
		rows = append(rows,
			bench.Row{Name: "in-process " + label + " 2-of-3 keygen", Stats: ref, Note: "reference, one run"},
			bench.Row{Name: "cluster " + label + " keygen (CreateKey via leader)", Stats: bench.Summarize(cl), Note: "one run, " + ratio(cl, ref)},
		)
	}

	var b strings.Builder
	b.WriteString(benchIntro)
	b.WriteString("\n## Run\n\n")
	if err := bench.WriteEnv(&b, env); err != nil {
		t.Fatal(err)
	}
	b.WriteString("- cluster: 3 kqd processes on loopback, swtpm, threshold 1 (2-of-3)\n")
	for _, line := range roles {
		fmt.Fprintf(&b, "- %s\n", line)
	}
	b.WriteString("\n## Results\n\n")
	if err := bench.WriteTable(&b, rows); err != nil {
		t.Fatal(err)
	}
	if path := os.Getenv("KQ_BENCH_GOBENCH"); path != "" {
		raw, err := os.ReadFile(repoPath(path))
		if err != nil {
			t.Fatalf("read tss Go benchmark output: %v", err)
		}
		if lines := goBenchLines(string(raw)); lines != "" {
			b.WriteString(benchGoBenchIntro)
			b.WriteString("\n```\n" + lines + "```\n")
		}
	}

	if out == "" {
		t.Log("\n" + b.String())
		return
	}
	path := repoPath(out)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s:\n%s", out, b.String())
}

// benchInProcess generates a 2-of-3 key with three tss engines joined by
// tsstest.Network (no Raft, no gRPC, no TPM) and returns the keygen wall
// time, an Op that makes one full signature with them and, for ECDSA, an
// Op that presigns (untimed) and then times only the online phase (bind
// plus rounds 5-9). Committees rotate over the three pairs as the
// cluster's do. The engines live until the test ends.
func benchInProcess(t *testing.T, alg tss.Algorithm) (keygen time.Duration, full, online bench.Op) {
	t.Helper()
	ids := []string{"n1", "n2", "n3"}
	net, engines, err := tsstest.NewCluster(tss.DefaultConfig(), ids...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(net.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	type keygenResult struct {
		id  string
		sh  *tss.Share
		err error
	}
	ch := make(chan keygenResult, len(ids))
	sid := tss.NewSessionID("bench", "keygen", 1, alg.String(), 0)
	reqs := make(map[string]tss.KeygenRequest, len(ids))
	for i, id := range ids {
		r := tss.KeygenRequest{Session: sid, Algorithm: alg, Threshold: 1, Parties: ids}
		if alg == tss.ECDSASecp256k1 {
			pp, err := tss.LoadPreParamsFile(filepath.Join(fixturesDir(t), fmt.Sprintf("n%d.json", i+1)))
			if err != nil {
				t.Fatal(err)
			}
			r.PreParams = pp
		}
		reqs[id] = r
	}
	start := time.Now()
	for _, id := range ids {
		go func() {
			sh, err := engines[id].Keygen(ctx, reqs[id])
			ch <- keygenResult{id, sh, err}
		}()
	}
	shares := map[string]*tss.Share{}
	for range ids {
		r := <-ch
		if r.err != nil {
			t.Fatalf("in-process %s keygen on %s: %v", alg, r.id, r.err)
		}
		shares[r.id] = r.sh
	}
	keygen = time.Since(start)
	t.Cleanup(func() {
		for _, sh := range shares {
			sh.Wipe()
		}
	})
	pub := shares["n1"].PublicKey()
	t.Logf("in-process %s keygen: %s", alg, keygen.Round(time.Millisecond))

	committees := [][]string{{"n1", "n2"}, {"n1", "n3"}, {"n2", "n3"}}
	var session uint64
	sign := func(ctx context.Context, i int) error {
		committee := committees[i%len(committees)]
		msg := bench.Digest(i)
		session++
		sid := tss.NewSessionID("bench", "sign", session, alg.String(), 0)
		type result struct {
			sig []byte
			err error
		}
		results := make(chan result, len(committee))
		for _, id := range committee {
			go func() {
				sig, err := engines[id].Sign(ctx, tss.SignRequest{Session: sid, Share: shares[id], Committee: committee, Message: msg})
				results <- result{sig, err}
			}()
		}
		var firstErr error
		for range committee {
			r := <-results
			switch {
			case r.err != nil:
				firstErr = cmp.Or(firstErr, r.err)
			case !tss.Verify(alg, pub, msg, r.sig):
				firstErr = cmp.Or(firstErr, bench.ErrBadSignature)
			}
		}
		return firstErr
	}
	if alg != tss.ECDSASecp256k1 {
		return keygen, bench.Timed(sign), nil
	}
	presign := func(ctx context.Context, i int) (time.Duration, error) {
		committee := committees[i%len(committees)]
		session++
		sid := tss.NewSessionID("bench", "presign", session, alg.String(), 0)
		type parked struct {
			p   *tss.Presignature
			err error
		}
		ch := make(chan parked, len(committee))
		for _, id := range committee {
			go func() {
				p, err := engines[id].Presign(ctx, tss.PresignRequest{Session: sid, Share: shares[id], Committee: committee, TTL: time.Minute})
				ch <- parked{p, err}
			}()
		}
		var ps []*tss.Presignature
		var firstErr error
		for range committee {
			r := <-ch
			firstErr = cmp.Or(firstErr, r.err)
			if r.p != nil {
				ps = append(ps, r.p)
			}
		}
		if firstErr != nil {
			for _, p := range ps {
				p.Discard()
			}
			return 0, firstErr
		}
		msg := bench.Digest(i)
		errs := make(chan error, len(ps))
		start := time.Now()
		for _, p := range ps {
			go func() {
				sig, err := p.Sign(ctx, msg)
				if err == nil && !tss.Verify(alg, pub, msg, sig) {
					err = bench.ErrBadSignature
				}
				errs <- err
			}()
		}
		for range ps {
			firstErr = cmp.Or(firstErr, <-errs)
		}
		return time.Since(start), firstErr
	}
	return keygen, bench.Timed(sign), presign
}

// benchCreateKey creates a key through c and returns the wall time of the
// CreateKey call (it returns once every member stored its share) and the
// public key.
func benchCreateKey(t *testing.T, c kqpb.KeyServiceClient, name string, alg tss.Algorithm) (time.Duration, []byte) {
	t.Helper()
	palg := kqpb.Algorithm_ED25519
	if alg == tss.ECDSASecp256k1 {
		palg = kqpb.Algorithm_ECDSA_SECP256K1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	k, err := c.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: name, Algorithm: palg})
	el := time.Since(start)
	if err != nil {
		t.Fatalf("create %s key: %v", alg, err)
	}
	if k.State != kqpb.KeyState_KEY_STATE_ACTIVE || len(k.PublicKey) == 0 {
		t.Fatalf("create %s key: state %s, %d-byte public key", alg, k.State, len(k.PublicKey))
	}
	t.Logf("cluster %s keygen: %s", alg, el.Round(time.Millisecond))
	return el, k.PublicKey
}

// benchSignRows warms each op up with one untimed call (it opens client
// connections and unseals shares), then runs them interleaved.
func benchSignRows(t *testing.T, alg tss.Algorithm, ops ...bench.Op) [][]time.Duration {
	t.Helper()
	ctx := context.Background()
	for j, op := range ops {
		if _, err := op(ctx, benchRuns); err != nil {
			t.Fatalf("%s warm-up of op %d: %v", alg, j, err)
		}
	}
	rows, err := bench.Interleave(ctx, benchRuns, ops...)
	if err != nil {
		t.Fatalf("%s signs: %v", alg, err)
	}
	for j, r := range rows {
		t.Logf("%s op %d: %+v", alg, j, bench.Summarize(r))
	}
	return rows
}

// benchClient returns a KeyService client connected to node id.
func benchClient(t *testing.T, c *cluster.Cluster, id string) kqpb.KeyServiceClient {
	t.Helper()
	kc, err := testClient(c, id)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

// clusterRoles returns the leader and one follower, as n1 reports them,
// waiting up to 10 s for an election to finish.
func clusterRoles(t *testing.T, c *cluster.Cluster) (leader, follower string) {
	t.Helper()
	op, err := c.Operator("n1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		st, err := op.Status(ctx, &kqpb.StatusRequest{})
		if err == nil && st.LeaderId != "" {
			leader = st.LeaderId
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("status: leader %q, %v", st.GetLeaderId(), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, id := range c.IDs() {
		if id != leader {
			return leader, id
		}
	}
	t.Fatalf("no follower besides leader %s", leader)
	return "", ""
}

func benchLabel(alg tss.Algorithm) string {
	if alg == tss.ECDSASecp256k1 {
		return "ECDSA secp256k1"
	}
	return "Ed25519"
}

// requireBench skips a benchmark unless KQ_BENCH=1 (`make bench`): its
// minutes of CPU, and numbers that only mean something on a quiet
// machine, stay out of `make test`.
func requireBench(t *testing.T) {
	t.Helper()
	if os.Getenv("KQ_BENCH") != "1" {
		t.Skip("benchmark; run with KQ_BENCH=1 or `make bench`")
	}
}

// benchCount is the count the environment variable name sets, def if unset.
func benchCount(name string, def int) int {
	n := def
	if s := os.Getenv(name); s != "" {
		fmt.Sscan(s, &n)
	}
	return n
}

// writeBenchReport logs a benchmark's markdown section and appends it to
// $KQ_BENCH_OUT when that is set (docs/BENCHMARKS.md under `make bench`).
func writeBenchReport(t *testing.T, report string) {
	t.Helper()
	t.Log(report)
	out := os.Getenv("KQ_BENCH_OUT")
	if out == "" {
		return
	}
	f, err := os.OpenFile(repoPath(out), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(report); err != nil {
		t.Fatal(err)
	}
}

// repoPath resolves a relative path against the repository root: go test
// runs in the package directory, but make passes root-relative paths.
func repoPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(filepath.Dir(file)), p)
}

// benchCommand is the command line that reproduces this run (what `make
// bench` runs for the table).
func benchCommand(out string) string {
	vars := "KQ_BENCH=1"
	if out != "" {
		vars += " KQ_BENCH_OUT=" + out
	}
	return vars + " go test -count=1 -run TestBenchClusterSign -v -timeout 20m ./node/"
}

// goBenchLines keeps the result lines and the goos/goarch/cpu header of
// `go test -bench` output.
func goBenchLines(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "cpu:") ||
			strings.HasPrefix(line, "goos:") || strings.HasPrefix(line, "goarch:") || strings.HasPrefix(line, "pkg:") {
			b.WriteString(line)
		}
	}
	return b.String()
}

const benchIntro = `# keyquorum benchmarks

This file is generated by ` + "`make bench`" + `; do not edit it by hand. To
reproduce, run ` + "`make bench`" + ` from the repository root on an otherwise idle
machine (it needs swtpm: ` + "`make deps`" + `). It takes a few minutes, writes
this file, and the diff shows what changed.

How to read it:

- **in-process** rows run three tss engines in one process joined by the
  in-memory test network (tss/tsstest): the threshold protocol alone, with no
  Raft, gRPC, TLS or TPM. They are the reference the cluster rows are
  compared with.
- **cluster** rows start three real kqd processes, each with its own swtpm,
  on loopback, and call the gRPC KeyService with the client certificate. A
  signature there is a Raft commit of the request, the 2-of-3 session over
  the PeerService streams between the chosen committee, and a Raft commit of
  the result. Shares are unsealed from the TPM on first use and then cached,
  so the warm-up signature pays for that. **via leader** calls the Raft
  leader directly; **via follower** calls another node, which forwards to
  the leader (one more TLS hop each way).
- Each sign row is 20 sequential signatures of distinct 32-byte digests,
  after one untimed warm-up; each cluster signature is verified outside the
  timed interval. The rows of an algorithm are measured interleaved
  (in-process, via leader, via follower, then again), so a change in
  machine load during the run hits all of them alike. The price of
  interleaving one signature at a time: each in-process signature starts
  while the cluster is still finishing the one before (the third node
  applying its report, garbage collection), so the reference runs slower
  here than in the Go benchmarks below and the ratios look better than
  they are. The pool table at the end compares Ed25519 with its reference
  in turns of 20 signatures instead, the figure to hold against a target.
  Committees rotate over the three 2-member subsets. Percentiles are
  nearest-rank, so every value was observed. Keygen rows are one run each,
  timed from CreateKey until every member stored its share.
- The note column compares a cluster row's p50 with its in-process
  reference, as a ratio and as a difference: the difference is roughly the
  fixed cost the cluster adds to every request, the ratio shows how much it
  matters for each algorithm. Machines are noisy and shared CPUs more so:
  compare rows of one run, not absolute numbers across runs or machines,
  and check the load average below. Every node of the cluster shares one
  machine's cores (a deployment has one node per machine), so the cluster
  rows are an upper bound on the overhead.
- ECDSA in the cluster uses the presignature pool (on by default, 4 per
  key): each node runs rounds 1-4 of future signatures in the background
  and a request only binds its digest, so a cluster ECDSA row beats the
  in-process full signature. Whether a request finds a ready presignature
  depends on the gap between requests: here the untimed presign of the
  interleaved online-phase row (about a second per round) lets the pool
  refill, so the cluster ECDSA rows mostly measure the presigned path, and
  p90 and max show the stragglers. Back-to-back traffic drains the pool and
  falls back to the full protocol, and the refill always competes for the
  CPU with the other rows. The in-process **presigned sign, online phase
  only** row is the protocol floor for a presigned request; the cluster's
  difference from it is Raft, gRPC and scheduling.
- A single keygen sample says little: ECDSA keygen time varies by seconds
  from run to run and with machine load, so its ratio can fall
  below 1.
`

const benchGoBenchIntro = `
## tss Go benchmarks (same ` + "`make bench`" + ` run)

` + "`go test -bench Sign -benchtime 20x ./tss/`" + ` run just before the table above.
**RawSign** drives tss-lib parties directly (no engine, no session checks,
no transport framing); **EngineSign** is the same signature through the
tss engine and the in-memory network, like the in-process rows above.
Times are means in ns per signature.
`

// waitPoolIdle waits until no presignature of key is being made.
func waitPoolIdle(t *testing.T, cl kqpb.KeyServiceClient, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Two idle looks half a second apart: one refill may be about to
	// follow another.
	for idle := 0; ctx.Err() == nil; time.Sleep(500 * time.Millisecond) {
		k, err := cl.GetKey(ctx, &kqpb.GetKeyRequest{Name: key})
		if err != nil || k.PresigsPending > 0 {
			idle = 0
		} else if idle++; idle == 2 {
			return
		}
	}
	t.Fatalf("the presignature pool of %s is still refilling", key)
}

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
	n := benchCount("KQ_BENCH_FLOOD_SIGNS", 150)
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

// TestBenchKeygenUnderLoad creates ECDSA keys back to back on a 3-node
// cluster while a client signs with an Ed25519 key, and reports how many
// leader elections the keygens caused (the raft term on every node before
// and after) and the sign latency before and during the keygens. Keygen
// loads every core for seconds; consensus and the online signing phase
// must not starve. `make bench` runs it.
func TestBenchKeygenUnderLoad(t *testing.T) {
	requireBench(t)
	keygens := benchCount("KQ_BENCH_KEYGENS", 10)
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

// TestBenchReplaceNode times replacing n3 by a new node n4 in a 3-node
// cluster (simulator TPM, pre-params fixtures) that holds
// KQ_BENCH_REPLACE_KEYS (default 10) ECDSA and as many Ed25519 keys, while
// one client signs with an Ed25519 key and another with an ECDSA key, and
// compares their latency before and during the replacement. Every key's
// public key must be unchanged afterwards and held by n1, n2 and n4.
func TestBenchReplaceNode(t *testing.T) {
	requireBench(t)
	perAlg := benchCount("KQ_BENCH_REPLACE_KEYS", 10)
	c := startCluster(t, "simulator")
	// Through n1, which stays: n3 may lead now, and once removed it
	// serves no one.
	kc := benchClient(t, c, "n1")
	created := time.Now()
	pubs := map[string][]byte{}
	for i := range perAlg {
		_, pubs[fmt.Sprintf("rep-ec-%d", i)] = benchCreateKey(t, kc, fmt.Sprintf("rep-ec-%d", i), tss.ECDSASecp256k1)
		_, pubs[fmt.Sprintf("rep-ed-%d", i)] = benchCreateKey(t, kc, fmt.Sprintf("rep-ed-%d", i), tss.Ed25519)
	}
	t.Logf("%d keys created in %s", len(pubs), time.Since(created).Round(time.Second))

	type signLoad struct {
		name  string
		alg   tss.Algorithm
		op    bench.Op
		mu    sync.Mutex
		lat   []time.Duration
		fails int
	}
	loads := []*signLoad{{name: "rep-ed-0", alg: tss.Ed25519}, {name: "rep-ec-0", alg: tss.ECDSASecp256k1}}
	for _, l := range loads {
		cfg := bench.DefaultSignConfig(l.name, 1)
		pub := pubs[l.name]
		cfg.Check = func(msg, sig []byte) bool { return tss.Verify(l.alg, pub, msg, sig) }
		var err error
		if l.op, err = bench.SignOp(kc, cfg); err != nil {
			t.Fatal(err)
		}
	}
	// sample signs with every load until stop, and returns each load's
	// latencies; a failed or bad signature is counted, not timed.
	sample := func(stop <-chan struct{}, first int) [][]time.Duration {
		var wg sync.WaitGroup
		for _, l := range loads {
			l.lat, l.fails = nil, 0
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := first; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					d, err := l.op(context.Background(), i)
					l.mu.Lock()
					if err != nil {
						l.fails++
						t.Logf("%s: %v", l.name, err)
					} else {
						l.lat = append(l.lat, d)
					}
					l.mu.Unlock()
				}
			}()
		}
		wg.Wait()
		out := make([][]time.Duration, len(loads))
		for i, l := range loads {
			out[i] = l.lat
		}
		return out
	}
	quietStop := make(chan struct{})
	go func() { time.Sleep(20 * time.Second); close(quietStop) }()
	quiet := sample(quietStop, 0)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	n4, err := c.AddNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	duringCh := make(chan [][]time.Duration)
	go func() { duringCh <- sample(stop, 1_000_000) }()
	start := time.Now()
	if _, err := c.KQ(ctx, "-o", "json", "node", "replace", "n3", "--with", n4); err != nil {
		t.Fatal(err)
	}
	if err := c.StartNode(n4); err != nil {
		t.Fatal(err)
	}
	waitNodeState(ctx, t, c, n4, "voter")
	voter := time.Since(start)
	waitNodeState(ctx, t, c, "n3", "removed")
	replaced := time.Since(start)
	close(stop)
	during := <-duringCh
	fails := []int{loads[0].fails, loads[1].fails}

	keys, err := kc.ListKeys(ctx, &kqpb.ListKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.Keys {
		want, ok := pubs[k.Name]
		if !ok {
			continue
		}
		if !bytes.Equal(k.PublicKey, want) {
			t.Errorf("%s: public key changed", k.Name)
		}
		if !slices.Equal(k.Members, []string{"n1", "n2", n4}) {
			t.Errorf("%s: holders %v", k.Name, k.Members)
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n## Replacing a node\n\n")
	fmt.Fprintf(&b, "`KQ_BENCH=1 go test -count=1 -run TestBenchReplaceNode -v -timeout 60m ./node/`: `kq node replace n3 --with n4`\n"+
		"on 3 nodes (simulator TPM, pre-params fixtures) holding %d ECDSA and %d Ed25519 keys, while one client\n"+
		"signs with an Ed25519 key and one with an ECDSA key, each one request at a time. Every public key was\n"+
		"unchanged and held by n1, n2 and %s afterwards. Load average at the end: %s.\n\n", perAlg, perAlg, n4, loadAverage())
	fmt.Fprintf(&b, "| row | result |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| replace: start of n4 → n4 a voter (every key reshared to it) | %s |\n", voter.Round(100*time.Millisecond))
	fmt.Fprintf(&b, "| replace: start of n4 → n3 removed | %s |\n", replaced.Round(100*time.Millisecond))
	for i, l := range loads {
		fmt.Fprintf(&b, "| %s sign p50 / p99 before (n=%d) | %s / %s |\n", benchLabel(l.alg), len(quiet[i]),
			bench.Millis(bench.Percentile(quiet[i], 0.5)), bench.Millis(bench.Percentile(quiet[i], 0.99)))
		fmt.Fprintf(&b, "| %s sign p50 / p99 during (n=%d, %d failed) | %s / %s |\n", benchLabel(l.alg), len(during[i]), fails[i],
			bench.Millis(bench.Percentile(during[i], 0.5)), bench.Millis(bench.Percentile(during[i], 0.99)))
	}
	writeBenchReport(t, b.String())
}
