package faults

import (
	"strings"
	"testing"
)

// TestParse: an empty list is no bug in any build; a named bug is on in a
// kqd_bugs build only, and an unknown name is refused with the known ones.
func TestParse(t *testing.T) {
	if b, err := Parse(""); err != nil || b != (Bugs{}) {
		t.Fatalf(`Parse("") = %+v, %v`, b, err)
	}
	b, err := Parse("stale-read, early-voter")
	if !Compiled {
		if err == nil || !strings.Contains(err.Error(), "no deliberate bugs") {
			t.Fatalf("Parse without kqd_bugs: %v, want the build refused", err)
		}
		if b.StaleReadOn() {
			t.Fatal("a bug is on without kqd_bugs")
		}
		return
	}
	if err != nil || !b.StaleReadOn() || !b.EarlyVoterOn() || b.SkipDedupOn() {
		t.Fatalf("Parse = %+v, %v", b, err)
	}
	if _, err := Parse("stale-read,no-such-bug"); err == nil || !strings.Contains(err.Error(), Names()) {
		t.Fatalf("Parse of an unknown bug: %v", err)
	}
}

// TestNamesListsEveryBug: every switch has a name, and each name parses.
func TestNamesListsEveryBug(t *testing.T) {
	names := strings.Split(Names(), ",")
	if len(names) != len(switches(&Bugs{})) || len(names) != 13 {
		t.Fatalf("Names() = %q", Names())
	}
}
