package report

import (
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/jepsen/availability"
	"github.com/keyquorum/keyquorum/jepsen/checker"
)

func TestSummaryAndTimelineShowAvailability(t *testing.T) {
	s := int64(time.Second)
	a := &availability.Report{Start: 0, End: 30 * s, Verdict: availability.Violated, MaxRecovery: 2000,
		Violations: []string{"ed25519: kill (node n1) healed at 10.000s, first success returned 4.25s after the heal (bound 2s)"},
		NoQuorum:   []availability.Window{{Start: 3 * s, End: 4 * s, Ms: 1000}},
		All: availability.Measures{LongestOutage: availability.Window{Start: 9 * s, End: 14 * s, Ms: 5000},
			Outages: []availability.Window{{Start: 9 * s, End: 14 * s, Ms: 5000}}},
		ByAlgorithm: map[string]availability.Measures{"ed25519": {Recovered: 1, RecoveryP50: 4250, RecoveryMax: 4250,
			Recoveries: []availability.Recovery{{Name: "kill", Target: "node n1", Heal: 10 * s, From: 10 * s, Asked: 10 * s,
				Success: 14*s + s/4, Ms: 4250, Recovered: true}}}},
	}
	sum := Summary(Results{Verdict: checker.Valid, Availability: a})
	for _, want := range []string{"verdict: VALID, availability VIOLATED", "longest window without a sign while a quorum was up 5.00s",
		"ed25519: recovery after a heal p50 4.25s max 4.25s over 1 faults", "max recovery 2s: VIOLATED", "violation: ed25519: kill"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q:\n%s", want, sum)
		}
	}
	rows := map[string]int{}
	for _, an := range availabilityAnnotations(a) {
		rows[an.Tag]++
		if an.Tag == "recovery ed25519" && (an.Start != 10*s || an.End != 14*s+s/4 || an.BackgroundColor != "#f6d5d5") {
			t.Errorf("recovery bar %+v: want 10s-14.25s in red (over the bound)", an)
		}
	}
	if rows["no quorum"] != 1 || rows["no sign"] != 1 || rows["recovery ed25519"] != 1 {
		t.Fatalf("timeline rows %v", rows)
	}
}
