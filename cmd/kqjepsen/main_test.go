package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/keyquorum/keyquorum/jepsen/checker"
)

func TestExitCodesFollowTheVerdict(t *testing.T) {
	for v, want := range map[checker.Verdict]int{checker.Valid: 0, checker.Invalid: 1, checker.Inconclusive: 2} {
		if got := ExitCode(v); got != want {
			t.Errorf("ExitCode(%s) = %d, want %d", v, got, want)
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
