// Command kqjepsen is keyquorum's fault-injection harness: it starts real
// kqd processes, drives concurrent clients while it injects partitions,
// clock skew, crashes and pauses, then checks the history for
// linearizability and the other guarantees of docs/CONSISTENCY.md.
//
//	kqjepsen run --nodes 3 --duration 60s --nemesis all --seed 7 --out out/
//	kqjepsen run --nodes 3 --duration 2m --nemesis kill,pause --max-recovery 2s
//
// Exit status: 0 valid, 1 a checker found a violation, 2 inconclusive or
// the run could not happen, 3 safe but an availability violation (with
// --max-recovery: a recovery after a healed fault took longer). Safety
// comes first: a run that is invalid exits 1, and one that is inconclusive
// exits 2, whatever its availability, since how fast a cluster answers
// matters only once its answers are known to be right; the summary and
// results.json report both verdicts either way.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/keyquorum/keyquorum/cmd/internal/progress"
	"github.com/keyquorum/keyquorum/jepsen/availability"
	"github.com/keyquorum/keyquorum/jepsen/checker"
	"github.com/keyquorum/keyquorum/jepsen/harness"
	"github.com/keyquorum/keyquorum/jepsen/report"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprintln(stderr, "usage: kqjepsen run [flags]  (kqjepsen run -h lists them)")
		return 2
	}
	cfg, err := parse(args[1:], stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "kqjepsen:", err)
		return 2
	}
	start := time.Now()
	show := newRunProgress(stdout, stderr, progress.IsTerminal(stderr))
	defer show.stop()
	cfg.Progress = func(line string) { show.event(fmt.Sprintf("[%6.1fs] %s", time.Since(start).Seconds(), line)) }
	cfg.Phase = show.phase
	res, err := harness.Run(ctx, cfg)
	show.stop()
	if err != nil {
		fmt.Fprintln(stderr, "kqjepsen:", err)
		return 2
	}
	fmt.Fprint(stdout, report.Summary(res))
	if cfg.Out != "" {
		fmt.Fprintf(stdout, "report: %s (results.json, history.html, logs/)\n", cfg.Out)
	}
	return ExitCode(res)
}

// ExitCode maps a run's verdicts to the process exit status: the safety
// verdict first (0 valid, 1 invalid, 2 inconclusive), then, for a valid
// run, 3 if its availability verdict is violated.
func ExitCode(res report.Results) int {
	switch res.Verdict {
	case checker.Valid:
		if a := res.Availability; a != nil && a.Verdict == availability.Violated {
			return 3
		}
		return 0
	case checker.Invalid:
		return 1
	}
	return 2
}

func parse(args []string, stderr io.Writer) (harness.Config, error) {
	exe, _ := os.Executable()
	cfg := harness.DefaultConfig(filepath.Dir(exe))
	fs := flag.NewFlagSet("kqjepsen run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Nodes, "nodes", cfg.Nodes, "cluster size: 3 or 5")
	fs.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long clients run under faults")
	fs.StringVar(&cfg.Nemesis, "nemesis", cfg.Nemesis, "none, partition, clock, kill, pause, all, or a comma-separated list (kill,pause)")
	fs.StringVar(&cfg.Workload, "workload", cfg.Workload, "sign, lifecycle (rotations, promotions, rollbacks, retirements and revocations too), ceremony (operators' quorum ceremonies too), or authz (principals of several roles and tenants, one revoked midway)")
	fs.IntVar(&cfg.Clients, "clients", cfg.Clients, "concurrent clients")
	fs.Uint64Var(&cfg.Seed, "seed", cfg.Seed, "seed of the fault schedule and the workload")
	fs.StringVar(&cfg.Out, "out", "", "directory for results.json, history.html and node logs")
	fs.StringVar(&cfg.Backend, "backend", cfg.Backend, "TPM of each node: simulator or swtpm")
	fs.StringVar(&cfg.Bugs, "bugs", "", "deliberate bugs for a kqd built with -tags kqd_bugs, comma-separated (kqd -help lists them)")
	fs.StringVar(&cfg.BinDir, "bin", cfg.BinDir, "directory holding kqd and kq")
	fs.StringVar(&cfg.FixturesDir, "fixtures", "tss/testdata/preparams", "pre-params fixtures (TEST ONLY); empty disables ECDSA")
	fs.DurationVar(&cfg.CheckTimeout, "check-timeout", cfg.CheckTimeout, "porcupine's time limit; past it the run is inconclusive")
	fs.DurationVar(&cfg.MaxClockOffset, "max-clock-offset", cfg.MaxClockOffset, "the cluster's clock.max_offset, which the expiry check holds replicated time to")
	fs.DurationVar(&cfg.ClockSlack, "clock-slack", cfg.ClockSlack, "what the expiry check adds to the max clock offset for the harness's own measurement")
	fs.DurationVar(&cfg.MaxRecovery, "max-recovery", 0, "if positive, a healed fault not followed by a successful sign of every algorithm within it is an availability violation (exit 3); 0 only measures")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if cfg.FixturesDir != "" {
		abs, err := filepath.Abs(cfg.FixturesDir)
		if err != nil {
			return cfg, err
		}
		if _, err := os.Stat(filepath.Join(abs, "n1.json")); err == nil {
			cfg.FixturesDir, cfg.ECDSA = abs, true
		} else {
			cfg.FixturesDir = ""
		}
	}
	return cfg, cfg.Validate()
}

// runProgress shows a run's progress: the harness's event lines on stdout
// as they come and, while traffic runs, a bar with the time left on stderr
// when it is a terminal; elsewhere the traffic's event lines carry the time
// left instead.
type runProgress struct {
	stdout, stderr io.Writer
	tty            bool

	mu      sync.Mutex
	bar     *progress.Indicator
	traffic time.Time     // when traffic started; zero outside it
	length  time.Duration // how long traffic runs
}

func newRunProgress(stdout, stderr io.Writer, tty bool) *runProgress {
	return &runProgress{stdout: stdout, stderr: stderr, tty: tty}
}

// phase starts the bar when traffic starts and ends it after.
func (p *runProgress) phase(name string, expected time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endBar()
	p.traffic = time.Time{}
	if name == "traffic" && expected > 0 {
		p.traffic, p.length = time.Now(), expected
		if p.tty {
			p.bar = progress.Start(p.stderr, true, "traffic", expected, 0)
		}
	}
}

// event prints one event line above the bar, or with the time left.
func (p *runProgress) event(line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.bar != nil:
		p.bar.Println(p.stdout, line)
	case !p.traffic.IsZero():
		left := max(p.length-time.Since(p.traffic), 0).Round(time.Second)
		fmt.Fprintf(p.stdout, "%s (traffic ends in %s)\n", line, left)
	default:
		fmt.Fprintln(p.stdout, line)
	}
}

// stop ends the bar; it is safe to call again.
func (p *runProgress) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endBar()
}

func (p *runProgress) endBar() {
	if p.bar != nil {
		p.bar.Stop()
		p.bar = nil
	}
}
