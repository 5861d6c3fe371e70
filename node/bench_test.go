package node_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
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
