package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/keyquorum/keyquorum/jepsen/availability"
	"github.com/keyquorum/keyquorum/jepsen/checker"
	"github.com/keyquorum/keyquorum/jepsen/client"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/jepsen/model"
	"github.com/keyquorum/keyquorum/jepsen/nemesis"
	"github.com/keyquorum/keyquorum/jepsen/report"
	"github.com/keyquorum/keyquorum/jepsen/workload"
)

// Run executes one test and returns its results; the verdict is in
// Results.Verdict. An error means the run could not happen at all (the
// cluster did not start); a run that happened but could not be judged has
// the verdict Inconclusive.
func Run(ctx context.Context, cfg Config) (report.Results, error) {
	res := report.Results{Config: cfg, Seed: cfg.Seed, Started: time.Now().UTC()}
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	say := cfg.Progress
	if say == nil {
		say = func(string) {}
	}
	phase := cfg.Phase
	if phase == nil {
		phase = func(string, time.Duration) {}
	}
	fps, _ := nemesis.ByName(cfg.Nemesis)
	work, err := os.MkdirTemp("", "kqjepsen-")
	if err != nil {
		return res, fmt.Errorf("harness: %w", err)
	}
	defer os.RemoveAll(work)

	opts := cluster.DefaultOptions(cfg.BinDir, work)
	opts.Nodes, opts.Backend, opts.Bugs = cfg.Nodes, cfg.Backend, cfg.Bugs
	opts.Threshold = cfg.Nodes / 2
	opts.FixturesDir = cfg.FixturesDir
	opts.SignTimeout = 5 * time.Second
	opts.Proxies, opts.FaultAdmin = true, true
	if nemesis.HasMembership(fps) {
		opts.Spares = spares(cfg)
	}
	say(fmt.Sprintf("starting %d nodes (%s, bugs=%q) in %s", cfg.Nodes, cfg.Backend, cfg.Bugs, work))
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(startCtx, opts)
	if err != nil {
		return res, fmt.Errorf("harness: %w", err)
	}
	written := false
	defer func() {
		c.Stop()
		if cfg.Out != "" && !written {
			// The run ended early: keep the logs, they say why.
			_ = report.Write(cfg.Out, res, nil, c.LogsDir())
		}
	}()
	if err := c.WaitReady(startCtx, cfg.ECDSA); err != nil {
		return res, fmt.Errorf("harness: %w", err)
	}
	sched := nemesis.DefaultSchedule(fps, cfg.Seed)
	if cfg.Quiet > 0 {
		sched.Quiet = cfg.Quiet
	}
	if cfg.Hold > 0 {
		sched.Hold = cfg.Hold
	}
	if err := sched.Validate(c); err != nil {
		return res, err
	}

	rec := client.NewRecorder()
	wcfg := workload.DefaultConfig(c.IDs(), cfg.Seed)
	wcfg.Clients, wcfg.ECDSA, wcfg.Lifecycle = cfg.Clients, cfg.ECDSA, cfg.Workload == "lifecycle"
	wcfg.Ceremony = cfg.Workload == "ceremony"
	wcfg.Members = c.IDs
	wcfg.ExpiryClients = workload.ExpiryClients(cfg.Clients)
	authz := cfg.Workload == "authz"
	if authz {
		wcfg.Authz, wcfg.ECDSA, wcfg.ExpiryClients, wcfg.RevokeAfter = true, false, 0, cfg.Duration/3
	}
	wl, err := workload.New(wcfg, rec, c)
	if err != nil {
		return res, err
	}
	if cfg.Workload == "ceremony" {
		// The workload's policy lists operators: from then on only a
		// ceremony changes the membership.
		sched.Failpoints = nemesis.WithCeremony(sched.Failpoints, func(ctx context.Context, params string) error {
			return wl.CeremonyChange(ctx, "membership", params)
		})
	}
	phase("setup", 0)
	say("setup: creating the first keys")
	setupCtx, cancelSetup := context.WithTimeout(ctx, 2*time.Minute)
	err = wl.Setup(setupCtx)
	cancelSetup()
	if err != nil {
		return res, fmt.Errorf("harness: %w", err)
	}

	phase("traffic", cfg.Duration)
	say(fmt.Sprintf("traffic: %d clients for %s, workload %s, nemesis %s, seed %d", cfg.Clients, cfg.Duration, cfg.Workload, cfg.Nemesis, cfg.Seed))
	runCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	trafficStart, trafficEnd := rec.Now(), int64(0)
	var wg sync.WaitGroup
	wg.Go(func() { wl.Run(runCtx) })
	var faults []nemesis.Fault
	wg.Go(func() { faults = nemesis.Run(runCtx, c, sched, rec.Now, say) })
	wg.Go(func() { progress(runCtx, rec, wl, say) })
	// Traffic ends when its context does, not when the last client or the
	// nemesis's last health check returns: what comes after is not load.
	wg.Go(func() { <-runCtx.Done(); trafficEnd = rec.Now() })
	wg.Wait()
	res.Faults = faults

	phase("heal", 0)
	say("healing and waiting for the cluster")
	// Each step after the traffic has its own time bound: a heal that
	// outlasts its 90 s is reported as such, and must not leave the final
	// reads, the convergence check and the audit read an expired context
	// that they would report as the nodes' DeadlineExceeded.
	afterCtx := context.WithoutCancel(ctx)
	healCtx, cancelHeal := context.WithTimeout(afterCtx, 90*time.Second)
	defer cancelHeal()
	if err := nemesis.HealAll(healCtx, c); err != nil {
		res.Errors = append(res.Errors, "heal: "+err.Error())
	}
	if err := c.WaitReady(healCtx, false); err != nil {
		res.Errors = append(res.Errors, "after heal: "+err.Error())
	}
	leaderCtx, cancelLeader := context.WithTimeout(afterCtx, 30*time.Second)
	defer cancelLeader()
	leader, err := c.Leader(leaderCtx)
	if err != nil {
		leader = c.IDs()[0]
	}
	finalStart := rec.Now()
	say("final reads through every node")
	wl.Final(afterCtx, leader, time.Minute)

	converged := checker.Converged(afterCtx, c, 30*time.Second)
	// Every node's audit chain, read while the nodes still run: after the
	// indexes met, so the chains should be one.
	say("reading every node's audit chain")
	chains := checker.ReadAudit(afterCtx, c, 30*time.Second)
	audited, auditNodes := checker.AuditAgreement(chains)
	res.Audit = auditNodes
	c.Stop() // the offline checks need the CPU, and the logs must be flushed

	phase("check", 0)
	say("checking")
	history := rec.History()
	res.Summarize(history)
	res.Clients = rec.Clients()
	res.Checks = append(res.Checks, checker.Assumptions(history))
	// The key model judges what the policy certainly allowed; the rest of
	// an authz history is the authz check's (a history without
	// principals passes whole).
	policy := workload.AuthzPolicy()
	lin, info := checker.Linearizable(checker.Prepare(checker.Authorized(history, policy)), cfg.CheckTimeout)
	expiry, expiryStats := checker.Expiry(history, checker.ExpiryBound{MaxClockOffset: cfg.MaxClockOffset, Slack: cfg.ClockSlack})
	res.Expiry = &expiryStats
	res.Checks = append(res.Checks, lin,
		checker.Signatures(history),
		checker.NonceReuse(history),
		checker.FrostCommitments(history),
		checker.Durable(checker.WithoutRevoked(history), finalStart),
		expiry,
		converged,
		audited)
	if nemesis.HasMembership(fps) {
		res.Checks = append(res.Checks, checker.Membership(faults))
	}
	cerOps := wl.CeremonyOps()
	if cfg.Workload == "ceremony" {
		res.Checks = append(res.Checks, checker.Ceremonies(cerOps, chains))
	}
	if authz {
		res.Checks = append(res.Checks, checker.Authz(history, policy))
	}
	res.Verdict = checker.Combine(res.Checks)
	avail := availability.Measure(history, faults, availability.Config{Nodes: c.IDs(),
		Start: trafficStart, End: trafficEnd, MaxRecovery: cfg.MaxRecovery})
	res.Availability = &avail
	if len(res.Errors) > 0 && res.Verdict == checker.Valid {
		res.Verdict = checker.Inconclusive
	}
	res.Duration = time.Since(res.Started).Round(time.Second).String()
	if cfg.Out != "" {
		written = true
		if err := report.Write(cfg.Out, res, &info, c.LogsDir()); err != nil {
			res.Errors = append(res.Errors, err.Error())
		}
		if err := report.WriteHistory(filepath.Join(cfg.Out, "history.json"), history); err != nil {
			res.Errors = append(res.Errors, err.Error())
		}
		_ = os.WriteFile(filepath.Join(cfg.Out, "summary.txt"), []byte(report.Summary(res)), 0o644)
		if cerOps != nil {
			if data, err := json.MarshalIndent(cerOps, "", "  "); err == nil {
				_ = os.WriteFile(filepath.Join(cfg.Out, "ceremonies.json"), data, 0o644)
			}
		}
	}
	return res, nil
}

// spares is how many nodes a run with membership changes can add: each
// added node needs ECDSA pre-params fixtures of its own (n1.json, ...)
// when the run uses fixtures, and no two members may share one.
func spares(cfg Config) int {
	const most = 4
	if cfg.FixturesDir == "" {
		return most
	}
	n := 0
	for n < most {
		if _, err := os.Stat(filepath.Join(cfg.FixturesDir, fmt.Sprintf("n%d.json", cfg.Nodes+n+1))); err != nil {
			break
		}
		n++
	}
	return n
}

// progress prints one line every five seconds while traffic runs.
func progress(ctx context.Context, rec *client.Recorder, wl *workload.Workload, say func(string)) {
	start := time.Now()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := rec.History()
		var ok, unknown int
		for _, op := range h {
			switch op.Output.(model.Output).Status {
			case model.OK:
				ok++
			case model.Unknown:
				unknown++
			}
		}
		say(fmt.Sprintf("t=%2.0fs ops=%d ok=%d unknown=%d other=%d", time.Since(start).Seconds(), len(h), ok, unknown, len(h)-ok-unknown))
	}
}
