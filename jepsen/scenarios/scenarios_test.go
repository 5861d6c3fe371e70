package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/jepsen/availability"
	"github.com/keyquorum/keyquorum/jepsen/checker"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/jepsen/harness"
	"github.com/keyquorum/keyquorum/jepsen/model"
	"github.com/keyquorum/keyquorum/jepsen/report"
	"github.com/keyquorum/keyquorum/jepsen/testbin"
)

var (
	binDir  string // kqd and kq as released
	bugsDir string // kqd and kq built with -tags kqd_bugs
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

// run finds the binaries built before the tests (testbin.Env) or builds
// those missing, then runs the tests.
func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kqjepsen-bin-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	for _, b := range []struct {
		dir  *string
		tags string
	}{{&binDir, ""}, {&bugsDir, "kqd_bugs"}} {
		if *b.dir = testbin.Dir(b.tags); *b.dir != "" {
			continue
		}
		*b.dir = filepath.Join(dir, "release")
		if b.tags != "" {
			*b.dir = filepath.Join(dir, b.tags)
		}
		if err := testbin.Build(root(), *b.dir, b.tags); err != nil {
			panic(err)
		}
	}
	return m.Run()
}

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// harnessRun runs one short harness and returns its results; the report
// lands in the test's temporary directory and is printed on failure.
func harnessRun(t *testing.T, tune func(*harness.Config)) report.Results {
	t.Helper()
	cfg := harness.DefaultConfig(binDir)
	// Pre-params come from the test fixtures, as everywhere in the tests:
	// without them each kqd would generate its own safe primes in the
	// background for the whole run, most of the run's CPU, and the
	// timings the checks read would be those of a machine busy with that.
	cfg.FixturesDir = filepath.Join(root(), "tss", "testdata", "preparams")
	cfg.Duration = 25 * time.Second
	cfg.Clients = 6
	cfg.Seed = 1
	cfg.CheckTimeout = time.Minute
	cfg.Out = t.TempDir()
	cfg.Progress = func(line string) { t.Log(line) }
	tune(&cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := harness.Run(ctx, cfg)
	if err != nil {
		t.Fatalf("harness did not run: %v", err)
	}
	t.Logf("summary:\n%s", report.Summary(res))
	return res
}

func requireVerdict(t *testing.T, res report.Results, want checker.Verdict) {
	t.Helper()
	if res.Verdict != want {
		t.Fatalf("verdict %s, want %s:\n%s", res.Verdict, want, report.Summary(res))
	}
}

// requireFaults checks that the nemesis really ran and the cluster came
// back after each fault.
func requireFaults(t *testing.T, res report.Results, name string, min int) {
	t.Helper()
	n := 0
	for _, f := range res.Faults {
		if f.Name == name {
			n++
		}
		if !f.Healthy || f.Error != "" {
			t.Errorf("fault %s (%s): healthy=%v error=%q", f.Name, f.Target, f.Healthy, f.Error)
		}
	}
	if n < min {
		t.Fatalf("%d %s faults injected, want at least %d", n, name, min)
	}
}

func requireOps(t *testing.T, res report.Results, kind string, min int) {
	t.Helper()
	if ok := res.Counts[kind]["ok"]; ok < min {
		t.Fatalf("%d acknowledged %s operations, want at least %d: %v", ok, kind, min, res.Counts)
	}
}

// requireHealthyRun is what every run on the correct build must show: a
// valid verdict with the audit chains in agreement, the nemesis really
// injecting its faults, and enough signatures to have checked something.
func requireHealthyRun(t *testing.T, res report.Results, nemesis string) {
	t.Helper()
	requireVerdict(t, res, checker.Valid)
	requireCheck(t, res, "audit", checker.Valid)
	requireFaults(t, res, nemesis, 2)
	requireOps(t, res, "sign", 20)
}

func TestPartitionRunIsValid(t *testing.T) {
	res := harnessRun(t, func(c *harness.Config) {
		c.Nemesis = "partition"
		c.ECDSA = true
	})
	requireHealthyRun(t, res, "partition")
}

func TestKillRunIsValid(t *testing.T) {
	res := harnessRun(t, func(c *harness.Config) { c.Nemesis, c.Seed = "kill", 2 })
	requireHealthyRun(t, res, "kill")
}

// A kill run measures availability: results.json has the section, its
// numbers are not negative, and at least one healed kill was followed by a
// measured recovery. No timing is asserted: the machine running the tests
// is shared, and the targets belong to docs/JEPSEN.md and to kqjepsen's
// --max-recovery. A bound of an hour exercises the verdict without one.
func TestKillRunMeasuresAvailability(t *testing.T) {
	var out string
	res := harnessRun(t, func(c *harness.Config) {
		c.Nemesis, c.Seed, c.Duration, c.MaxRecovery = "kill", 7, 20*time.Second, time.Hour
		out = c.Out
	})
	requireVerdict(t, res, checker.Valid)
	requireFaults(t, res, "kill", 1)
	data, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var written struct {
		Availability *availability.Report `json:"availability"`
	}
	if err := json.Unmarshal(data, &written); err != nil || written.Availability == nil {
		t.Fatalf("results.json has no availability section (err %v)", err)
	}
	a := *written.Availability
	if a.Verdict != availability.Met || a.End <= a.Start {
		t.Fatalf("availability verdict %s, traffic %d-%d", a.Verdict, a.Start, a.End)
	}
	traffic := float64(a.End-a.Start) / 1e6
	measured := 0
	for alg, m := range a.ByAlgorithm {
		if m.Successes == 0 || m.LongestOutage.Ms < 0 || m.LongestOutage.Ms > traffic ||
			m.Requests.Fraction < 0 || m.Requests.Fraction > 1 || m.Quiet.Requests > m.Requests.Requests {
			t.Errorf("%s: implausible %+v", alg, m)
		}
		for _, rec := range m.Recoveries {
			if rec.Heal < a.Start || rec.Heal > a.End || rec.WaitMs < 0 || rec.Ms < 0 || rec.Recovered && rec.Ms < rec.WaitMs {
				t.Errorf("%s: implausible recovery %+v", alg, rec)
			}
		}
		measured += m.Recovered
		t.Logf("%s: recovery p50 %.0fms max %.0fms over %d faults, longest window %.0fms, failed %.1f%% of %d signs",
			alg, m.RecoveryP50, m.RecoveryMax, m.Recovered, m.LongestOutage.Ms, 100*m.Requests.Fraction, m.Requests.Requests)
	}
	if measured == 0 {
		t.Fatalf("no healed fault followed by a measured recovery: %+v", a.ByAlgorithm)
	}
}

// Clock faults, one node at a time, must not move handle expiry beyond
// the max clock offset: seed 26 bumps the leader's clock 9 minutes ahead
// first, then strobes it, and the expiry clients sign with handles of a
// few seconds on both sides of their expiry throughout.
func TestClockRunIsValid(t *testing.T) {
	res := harnessRun(t, func(c *harness.Config) { c.Nemesis, c.Seed = "clock", 26 })
	requireLeaderBumpedForward(t, res)
	requireHealthyRun(t, res, "clock")
	requireCheck(t, res, "expiry", checker.Valid)
	// Not vacuous: signs that had to sign, and signs that had to be
	// refused, whatever the clocks within the bound.
	if st := res.Expiry; st == nil || st.BeforeExpiry < 8 || st.AfterExpiry < 5 {
		t.Fatalf("expiry checks: %+v; want at least 8 signs before their handle's expiry and 5 after", st)
	}
	t.Logf("expiry: %+v", *res.Expiry)
}

// A leader that stamps time with its own clock alone must be caught: a
// leader bumped 9 minutes ahead moves replicated time forward for good,
// so the short-lived handles live then are refused as expired within
// their life, and the handles issued after it outlive theirs (replicated
// time stays frozen at the jump while real time catches up).
func TestUnboundedTimeBugIsCaught(t *testing.T) {
	res := harnessRun(t, func(c *harness.Config) {
		c.BinDir, c.Bugs, c.Nemesis, c.Seed, c.Duration = bugsDir, "unbounded-time", "clock", 10, 20*time.Second
	})
	requireLeaderBumpedForward(t, res)
	requireVerdict(t, res, checker.Invalid)
	requireCheck(t, res, "expiry", checker.Invalid)
	for _, c := range res.Checks {
		if c.Name == "expiry" {
			t.Logf("expiry violations: %s", strings.Join(c.Details, "\n"))
		}
	}
}

// requireLeaderBumpedForward checks that the run's clock faults include
// the one the expiry scenarios are about: the leader's clock bumped ahead.
func requireLeaderBumpedForward(t *testing.T, res report.Results) {
	t.Helper()
	for _, f := range res.Faults {
		if rest, ok := strings.CutPrefix(f.Target, "bump leader "); ok && !strings.Contains(rest, " by -") {
			return
		}
	}
	t.Fatalf("no forward bump of the leader's clock among the faults %+v", res.Faults)
}

// A follower answering reads from its own state must be caught: a client
// that reads its new key back through another node finds it missing, or
// still generating, after its creation was acknowledged. Followers apply a
// commit within milliseconds, so no fault is needed, only the read-back.
func TestStaleReadBugIsCaught(t *testing.T) {
	res := harnessRun(t, func(c *harness.Config) {
		c.BinDir, c.Bugs, c.Nemesis, c.Seed, c.Duration = bugsDir, "stale-read", "none", 4, 20*time.Second
	})
	requireVerdict(t, res, checker.Invalid)
	requireCheck(t, res, "linearizable", checker.Invalid)
}

// A retried request id that signs again must be caught: two signatures for
// one request id.
func TestSkipDedupBugIsCaught(t *testing.T) {
	res := harnessRun(t, func(c *harness.Config) {
		c.BinDir, c.Bugs, c.Nemesis, c.Seed, c.Duration = bugsDir, "skip-dedup", "none", 5, 15*time.Second
	})
	requireVerdict(t, res, checker.Invalid)
	requireCheck(t, res, "linearizable", checker.Invalid)
	requireCheck(t, res, "durable", checker.Invalid)
}

// Lifecycle requests under partitions: rotations, promotions, rollbacks,
// retirements and revocations interleaved with signatures must stay
// linearizable, and every signature must verify under the public key of
// the version the cluster reported.
func TestLifecycleRunIsValid(t *testing.T) {
	res := harnessRun(t, func(c *harness.Config) { c.Workload, c.Nemesis, c.Seed = "lifecycle", "partition", 3 })
	requireHealthyRun(t, res, "partition")
	requireOps(t, res, "rotate", 2)
	requireOps(t, res, "revoke", 1)
}

// A revocation acknowledged before it is in the log must be caught: the
// clients that sign with the revoked version right after the
// acknowledgement get signatures, and reads still show it unrevoked,
// until the revocation lands two seconds later.
func TestRevokedSignsBugIsCaught(t *testing.T) {
	var out string
	res := harnessRun(t, func(c *harness.Config) {
		c.BinDir, c.Bugs, c.Workload, c.Nemesis, c.Seed, c.Duration = bugsDir, "revoked-signs", "lifecycle", "none", 6, 15*time.Second
		out = c.Out
	})
	requireVerdict(t, res, checker.Invalid)
	requireCheck(t, res, "linearizable", checker.Invalid)
	if n := revokedButAlive(t, filepath.Join(out, "history.json")); n == 0 {
		t.Fatal("no operation saw a revoked version alive after its revocation was acknowledged")
	} else {
		t.Logf("%d operations saw a revoked version alive after its revocation was acknowledged", n)
	}
}

// revokedButAlive counts the operations of a history that, called after a
// revocation of a version was acknowledged, saw that version alive: a new
// signature by it, or a read showing it not revoked.
func revokedButAlive(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ops []struct {
		Call   int64        `json:"call_ns"`
		Return int64        `json:"return_ns"`
		Input  model.Input  `json:"input"`
		Output model.Output `json:"output"`
	}
	if err := json.Unmarshal(data, &ops); err != nil {
		t.Fatal(err)
	}
	type revocation struct {
		key     string
		version uint32
		at      int64
	}
	var revoked []revocation
	signedBy := map[string]int64{} // request id -> return of its first signature
	for _, op := range ops {
		in, res := op.Input, op.Output
		switch {
		case res.Status != model.OK:
		case in.Kind == model.Revoke:
			v := in.Version
			if v == 0 {
				v = res.Key.Primary
			}
			revoked = append(revoked, revocation{in.Key, v, op.Return})
		case in.Kind == model.Sign:
			if at, ok := signedBy[in.RequestID]; !ok || op.Return < at {
				signedBy[in.RequestID] = op.Return
			}
		}
	}
	alive := 0
	for _, op := range ops {
		in, res := op.Input, op.Output
		for _, r := range revoked {
			if in.Key != r.key || op.Call <= r.at || res.Status != model.OK {
				continue
			}
			newSignature := in.Kind == model.Sign && res.Version == r.version && signedBy[in.RequestID] > r.at
			unrevoked := in.Kind == model.Get && len(res.Key.Versions) >= int(r.version) &&
				res.Key.Versions[r.version-1].State != model.Revoked
			if newSignature || unrevoked {
				alive++
				break
			}
		}
	}
	return alive
}

// A member that draws the same FROST nonce pair for every commitment must
// be caught: its signatures verify and their R all differ (the binding
// factors change with each message), so only the commitments the answers
// report show the reuse. No fault is needed.
func TestFrostNonceReuseBugIsCaught(t *testing.T) {
	res := harnessRun(t, func(c *harness.Config) {
		c.BinDir, c.Bugs, c.Nemesis, c.Seed, c.Duration = bugsDir, "frost-nonce-reuse", "none", 8, 10*time.Second
	})
	requireVerdict(t, res, checker.Invalid)
	requireCheck(t, res, "frost-commitments", checker.Invalid)
	requireCheck(t, res, "signatures", checker.Valid)
	requireCheck(t, res, "nonce-reuse", checker.Valid)
}

// A replica that skips the signer-role check of a sign request must be
// caught: the key-admins and the auditor of a tenant, who hold its
// handle's token through the workload but no signer role, get
// signatures. No fault is needed, and a short run is enough: the check is
// on each acknowledged request, not on timing.
func TestAuthzSkipBugIsCaught(t *testing.T) {
	res := harnessRun(t, func(c *harness.Config) {
		c.BinDir, c.Bugs, c.Workload, c.Nemesis, c.Seed, c.Duration = bugsDir, "authz-skip", "authz", "none", 2, 6*time.Second
	})
	requireVerdict(t, res, checker.Invalid)
	requireCheck(t, res, "authz", checker.Invalid)
	requireCheck(t, res, "signatures", checker.Valid)
	for _, c := range res.Checks {
		if c.Name == "authz" {
			if !strings.Contains(strings.Join(c.Details, "\n"), "holds no role that grants it") {
				t.Fatalf("authz violations name no missing role: %s", c)
			}
			t.Logf("authz violations: %s", strings.Join(c.Details, "\n"))
		}
	}
}

// Principals of several roles and tenants under partitions, one signer
// revoked midway: every acknowledged request must be one the policy
// grants, and nothing the revoked principal asks after its revocation
// returned may succeed. About a minute: it runs with KQ_LONG=1.
func TestAuthzRunIsValid(t *testing.T) {
	if os.Getenv("KQ_LONG") == "" {
		t.Skip("a minute of authz traffic under partitions; set KQ_LONG=1")
	}
	res := harnessRun(t, func(c *harness.Config) { c.Workload, c.Nemesis, c.Seed = "authz", "partition", 3 })
	requireVerdict(t, res, checker.Valid)
	requireCheck(t, res, "authz", checker.Valid)
	requireCheck(t, res, "audit", checker.Valid)
	requireFaults(t, res, "partition", 2)
	requireOps(t, res, "sign", 5)
	requireOps(t, res, string(model.RevokePrincipal), 1)
	if res.Counts["sign"]["permission-denied"]+res.Counts["sign"]["not-found"] == 0 {
		t.Fatalf("no sign refused: the run did not exercise the policy: %v", res.Counts)
	}
}

// A release build refuses deliberate bugs instead of running without them.
func TestReleaseBuildRefusesBugs(t *testing.T) {
	cfg := harness.DefaultConfig(binDir)
	cfg.Bugs, cfg.Duration = "stale-read", time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := harness.Run(ctx, cfg)
	if !errors.Is(err, cluster.ErrExited) || !strings.Contains(err.Error(), "kqd_bugs") {
		t.Fatalf("release kqd with --bugs: %v; want it to exit naming the kqd_bugs tag", err)
	}
}

func requireCheck(t *testing.T, res report.Results, name string, want checker.Verdict) {
	t.Helper()
	for _, c := range res.Checks {
		if c.Name == name {
			if c.Verdict != want {
				t.Fatalf("check %s: %s, want %s", name, c.Verdict, want)
			}
			return
		}
	}
	t.Fatalf("no check %s in %v", name, res.Checks)
}

// long skips a run too long for the default suite unless KQ_LONG is set.
func long(t *testing.T) {
	t.Helper()
	if os.Getenv("KQ_LONG") == "" {
		t.Skip("a long kqjepsen run; set KQ_LONG=1")
	}
}

// Operators' ceremonies mixed with signing under every nemesis: proposals,
// approvals (and approvals that must be refused), cancellations and reads
// of the keys they change stay valid, and some ceremony executed.
func TestCeremonyRunIsValid(t *testing.T) {
	long(t)
	res := harnessRun(t, func(c *harness.Config) {
		c.Workload, c.Nemesis, c.Seed, c.Duration = "ceremony", "all", 9, 40*time.Second
	})
	requireVerdict(t, res, checker.Valid)
	requireCheck(t, res, "ceremonies", checker.Valid)
	requireOps(t, res, "sign", 20)
	for _, c := range res.Checks {
		if c.Name == "ceremonies" {
			t.Logf("ceremonies: %s", c)
		}
	}
}

// A cluster that executes a ceremony one approval short of its quorum must
// be caught: the answer to the approval shows it executed with one valid
// approval of two, and the audit chain's evidence fails offline
// verification (audit.VerifyCeremony, what kq ceremony verify runs).
func TestCeremonyUndercountBugIsCaught(t *testing.T) {
	res := harnessRun(t, func(c *harness.Config) {
		c.BinDir, c.Bugs, c.Workload, c.Nemesis, c.Seed, c.Duration = bugsDir, "ceremony-undercount", "ceremony", "none", 2, 8*time.Second
	})
	requireVerdict(t, res, checker.Invalid)
	requireCheck(t, res, "ceremonies", checker.Invalid)
	requireCheck(t, res, "linearizable", checker.Valid)
	for _, c := range res.Checks {
		if c.Name == "ceremonies" && !strings.Contains(strings.Join(c.Details, "\n"), "below the quorum 2") {
			t.Fatalf("the audit evidence was not refused offline: %v", c.Details)
		}
	}
}

// Membership changes (add, remove, replace through kq node) with the other
// faults running during each change: every check stays valid, the changes
// finish, and the new voters were promoted only after their shares.
func TestMembershipRunIsValid(t *testing.T) {
	long(t)
	res := harnessRun(t, func(c *harness.Config) { c.Nemesis, c.Seed, c.Duration = "all", 6, 60*time.Second })
	requireVerdict(t, res, checker.Valid)
	requireCheck(t, res, "membership", checker.Valid)
	requireFaults(t, res, "membership", 1)
}

// A leader that makes a joining node a raft voter before its shares of
// every key are confirmed must be caught by the membership nemesis's
// watch of the promotion. Seed 1's first fault replaces n3 by n4; on a
// loaded 2-core machine the change takes a minute or more, hence KQ_LONG.
func TestEarlyVoterBugIsCaught(t *testing.T) {
	long(t)
	res := harnessRun(t, func(c *harness.Config) {
		c.BinDir, c.Bugs, c.Nemesis, c.Seed, c.Duration = bugsDir, "early-voter", "membership", 1, 20*time.Second
	})
	requireVerdict(t, res, checker.Invalid)
	requireCheck(t, res, "membership", checker.Invalid)
	requireCheck(t, res, "linearizable", checker.Valid)
}
