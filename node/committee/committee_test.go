package committee

import (
	"slices"
	"testing"
)

func TestCombinationsAreEveryCommitteeOnce(t *testing.T) {
	got := combinations([]string{"n1", "n2", "n3", "n4"}, 3)
	want := [][]string{{"n1", "n2", "n3"}, {"n1", "n2", "n4"}, {"n1", "n3", "n4"}, {"n2", "n3", "n4"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("combinations = %v, want %v", got, want)
	}
	if n := len(combinations([]string{"a", "b", "c", "d", "e"}, 2)); n != 10 {
		t.Fatalf("5 choose 2 = %d", n)
	}
}

// TestRetriesLeaveTheFirstAttemptRotationAlone: with three members and
// threshold 1, a culprit that spoils every attempt it is in must meet both
// honest members in first attempts, so that both accuse it (the blame
// rule's threshold+1). When retries advanced the first attempts' rotation,
// first attempts alternated between two committees and paired the
// culprit with one honest member only.
func TestRetriesLeaveTheFirstAttemptRotationAlone(t *testing.T) {
	p := New(nil)
	combos := combinations([]string{"n1", "n2", "n3"}, 2)
	partners := map[string]bool{}
	for range 6 {
		c := combos[p.next()%uint64(len(combos))]
		if i := slices.Index(c, "n3"); i >= 0 {
			partners[c[1-i]] = true
			p.nextRetry() // the retry without n3
		}
	}
	if !partners["n1"] || !partners["n2"] {
		t.Fatalf("in six first attempts the culprit met only %v", partners)
	}
}
