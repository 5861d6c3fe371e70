package main

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/jepsen/availability"
	"github.com/keyquorum/keyquorum/jepsen/checker"
	"github.com/keyquorum/keyquorum/jepsen/report"
)

func TestExitCodesFollowTheVerdict(t *testing.T) {
	for v, want := range map[checker.Verdict]int{checker.Valid: 0, checker.Invalid: 1, checker.Inconclusive: 2} {
		if got := ExitCode(report.Results{Verdict: v}); got != want {
			t.Errorf("ExitCode(%s) = %d, want %d", v, got, want)
		}
	}
}

// An availability violation is exit 3, but only for a safe run: a
// violation of safety (1) or a run that could not be judged (2) says more.
func TestExitCodesPutSafetyBeforeAvailability(t *testing.T) {
	for _, tc := range []struct {
		safety checker.Verdict
		avail  availability.Verdict
		want   int
	}{
		{checker.Valid, availability.Unjudged, 0},
		{checker.Valid, availability.Met, 0},
		{checker.Valid, availability.Violated, 3},
		{checker.Invalid, availability.Violated, 1},
		{checker.Inconclusive, availability.Violated, 2},
		{checker.Invalid, availability.Met, 1},
	} {
		res := report.Results{Verdict: tc.safety, Availability: &availability.Report{Verdict: tc.avail}}
		if got := ExitCode(res); got != tc.want {
			t.Errorf("safety %s, availability %s: exit %d, want %d", tc.safety, tc.avail, got, tc.want)
		}
	}
}

func TestRunRefusesBadFlagsBeforeStartingAnything(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"check"},
		{"run", "--nodes", "4"},
		{"run", "--nemesis", "flood"},
		{"run", "--workload", "rotate-everything"},
		{"run", "--backend", "device"},
		{"run", "--clock-slack", "-1s"},
		{"run", "--max-recovery", "-2s"},
		{"run", "--nemesis", "kill,flood"},
		{"run", "extra"},
	} {
		var stderr strings.Builder
		if code := run(context.Background(), args, io.Discard, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (stderr %q)", args, code, stderr.String())
		}
	}
}

func TestParseFindsFixturesAndEnablesECDSA(t *testing.T) {
	cfg, err := parse([]string{"--fixtures", "../../tss/testdata/preparams", "--nodes", "5", "--seed", "9"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.ECDSA || cfg.Nodes != 5 || cfg.Seed != 9 {
		t.Fatalf("config %+v", cfg)
	}
	cfg, err = parse([]string{"--fixtures", ""}, io.Discard)
	if err != nil || cfg.ECDSA {
		t.Fatalf("without fixtures: ECDSA=%v err=%v", cfg.ECDSA, err)
	}
}

func TestParseAcceptsTheLifecycleWorkload(t *testing.T) {
	cfg, err := parse([]string{"--workload", "lifecycle", "--bugs", "revoked-signs", "--fixtures", ""}, io.Discard)
	if err != nil || cfg.Workload != "lifecycle" || cfg.Bugs != "revoked-signs" {
		t.Fatalf("config %+v, err %v", cfg, err)
	}
}

func TestParseTakesANemesisListAndTheRecoveryBound(t *testing.T) {
	cfg, err := parse([]string{"--nemesis", "kill,pause", "--max-recovery", "2s", "--fixtures", ""}, io.Discard)
	if err != nil || cfg.Nemesis != "kill,pause" || cfg.MaxRecovery != 2*time.Second {
		t.Fatalf("config %+v, err %v", cfg, err)
	}
}

// While traffic runs, event lines say when it ends (not a terminal) or a
// bar on stderr shows it (a terminal); outside traffic they are as the
// harness said them.
func TestRunProgress(t *testing.T) {
	var out, errOut strings.Builder
	p := newRunProgress(&out, &errOut, false)
	p.event("[   0.1s] starting")
	p.phase("traffic", time.Hour)
	p.event("[   1.0s] t= 5s ops=3")
	p.phase("heal", 0)
	p.event("[   2.0s] healing")
	p.stop()
	want := "[   0.1s] starting\n[   1.0s] t= 5s ops=3 (traffic ends in 1h0m0s)\n[   2.0s] healing\n"
	if out.String() != want || errOut.String() != "" {
		t.Errorf("plain: %q, stderr %q; want %q", out.String(), errOut.String(), want)
	}

	var tout, terr syncBuilder
	p = newRunProgress(&tout, &terr, true)
	p.phase("traffic", time.Hour)
	p.event("[   1.0s] t= 5s ops=3")
	for !strings.Contains(terr.String(), "traffic [") {
		time.Sleep(10 * time.Millisecond)
	}
	p.stop()
	p.stop()
	if tout.String() != "[   1.0s] t= 5s ops=3\n" || !strings.Contains(terr.String(), "ETA ") {
		t.Errorf("terminal: stdout %q, stderr %q", tout.String(), terr.String())
	}
}

// syncBuilder is a strings.Builder safe for the progress goroutine.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
