package checker

import (
	"fmt"
	"testing"
)

func TestCheckKeepsViolationsBeforeDoubts(t *testing.T) {
	c := Check{Verdict: Valid}
	for i := range maxDetails + 3 {
		c.fail(Inconclusive, "doubt %d", i)
	}
	c.fail(Invalid, "violation")
	if c.Verdict != Invalid {
		t.Fatalf("verdict %s", c.Verdict)
	}
	if c.Details[0] != "violation" || len(c.Details) != maxDetails {
		t.Fatalf("details %q", c.Details)
	}
	if c.Dropped != 4 {
		t.Fatalf("dropped %d, want 4", c.Dropped)
	}
	if got := Combine([]Check{{Verdict: Valid}, {Verdict: Inconclusive}}); got != Inconclusive {
		t.Fatalf("combine = %s", got)
	}
	_ = fmt.Sprint(c)
}
