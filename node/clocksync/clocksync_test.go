package clocksync

import (
	"maps"
	"testing"
	"time"
)

// TestNotReadyNamesSilentReplayingAndUnrecordedRestarts: a new committee
// leaves out a member with no fresh clock answer (down, paused, or just
// restarted: unknown is not ready), one whose fresh answer trails this
// node's applied index by more than catchUpLag, and one whose fresh answer
// comes from a process life the log does not record yet; a small lag, the
// recorded life, an answer without a life (an older build) and this node
// itself are ready.
func TestNotReadyNamesSilentReplayingAndUnrecordedRestarts(t *testing.T) {
	now := time.Unix(1000, 0)
	c := &Sync{applied: map[string]Answer{
		"replaying": {Index: 10, Boot: "b-replaying", At: now.Add(-100 * time.Millisecond)},
		"healthy":   {Index: 5000 - catchUpLag, Boot: "b-healthy", At: now},
		"stale":     {Index: 5000, Boot: "b-stale", At: now.Add(-appliedFreshFor - time.Millisecond)},
		"rebooted":  {Index: 5000, Boot: "b-new", At: now},
		"old-build": {Index: 5000, At: now},
	}}
	boots := func(m string) string {
		if m == "rebooted" {
			return "b-old"
		}
		return "b-" + m
	}
	members := []string{"self", "replaying", "healthy", "stale", "never", "rebooted", "old-build"}
	got := c.NotReady(members, "self", 5000, boots, now)
	want := map[string]string{"replaying": ReadyBehind, "stale": ReadySilent, "never": ReadySilent, "rebooted": ReadyRebooted}
	if !maps.Equal(got, want) {
		t.Fatalf("notReady = %v, want %v", got, want)
	}
	if !c.Rebooted("rebooted", boots, now) || c.Rebooted("healthy", boots, now) || c.Rebooted("old-build", boots, now) {
		t.Fatal("rebooted must name only the member answering from an unrecorded process life")
	}
}

// TestSilentForCountsOnlyFailedProbes: a member is silent once every probe
// of it has failed for longer than the grace; an answer ends the silence,
// and a member that merely has an old answer (this node could not probe:
// it was paused itself) is not silent.
func TestSilentForCountsOnlyFailedProbes(t *testing.T) {
	const grace = 3 * ProbeEvery
	now := time.Unix(1000, 0)
	c := &Sync{applied: map[string]Answer{}, failing: map[string]time.Time{}}
	c.Answered("m", Answer{Index: 1, At: now.Add(-time.Minute)}, true, now.Add(-time.Minute))
	if c.SilentFor("m", grace, now) {
		t.Fatal("an old answer with no failed probe since is not silence")
	}
	c.Answered("m", Answer{}, false, now.Add(-grace-time.Millisecond))
	c.Answered("m", Answer{}, false, now.Add(-time.Millisecond)) // the first failure counts
	if !c.SilentFor("m", grace, now) {
		t.Fatal("probes failing for longer than the grace must make the member silent")
	}
	c.Answered("m", Answer{Index: 2, At: now}, true, now)
	if c.SilentFor("m", grace, now) {
		t.Fatal("an answer must end the silence")
	}
}
