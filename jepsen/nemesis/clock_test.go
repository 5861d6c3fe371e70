package nemesis

import (
	"math/rand/v2"
	"testing"
)

// The clock nemesis must reach the leader, forward and back: a follower's
// clock stamps nothing, so faults that never hit the leader would leave
// replicated time untested. Every fault targets one node, which keeps the
// wrong clocks below a quorum.
func TestClockFaultsReachTheLeaderBothWays(t *testing.T) {
	var forward, back, followers int
	s := DefaultSchedule([]Failpoint{Clock{}}, 0)
	for seed := range uint64(60) {
		s.Seed = seed
		rnd := s.stream()
		for range 3 {
			_, fp, _, sub := s.next(rnd)
			if fp.Name() != "clock" {
				t.Fatalf("seed %d drew %s", seed, fp.Name())
			}
			f := drawClockFault(sub, 3)
			if f.node < 0 || f.node >= 3 {
				t.Fatalf("seed %d: node position %d of 3", seed, f.node)
			}
			switch {
			case f.leader && f.bump > 0:
				forward++
			case f.leader && f.bump < 0:
				back++
			case !f.leader:
				followers++
			}
		}
	}
	if forward < 5 || back < 5 || followers < 30 {
		t.Fatalf("in 180 clock faults: %d forward bumps of the leader, %d back, %d of a node by position", forward, back, followers)
	}
}

// A seed replays the same clock faults.
func TestClockFaultsFollowTheSeed(t *testing.T) {
	a := drawClockFault(rand.New(rand.NewPCG(7, 7)), 5)
	b := drawClockFault(rand.New(rand.NewPCG(7, 7)), 5)
	if a != b {
		t.Fatalf("same stream, two faults: %+v, %+v", a, b)
	}
}
