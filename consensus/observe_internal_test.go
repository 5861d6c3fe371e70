package consensus

import (
	"context"
	"slices"
	"testing"

	"github.com/hashicorp/raft"
)

func TestWatchReachabilityFollowsObservations(t *testing.T) {
	w := newWatch("n1")
	members := []string{"n3", "n1", "n2"}
	step := func(data any, want ...string) {
		t.Helper()
		w.observe(raft.Observation{Data: data})
		if got := w.reachable(members); !slices.Equal(got, want) {
			t.Fatalf("after %T: reachable %v, want %v", data, got, want)
		}
	}
	step(raft.Leader, "n1", "n2", "n3")
	step(raft.FailedHeartbeatObservation{PeerID: "n2"}, "n1", "n3")
	step(raft.FailedHeartbeatObservation{PeerID: "n3"}, "n1")
	step(raft.ResumedHeartbeatObservation{PeerID: "n2"}, "n1", "n2")
	// A new term restarts raft's failure counters, so ours restart too.
	step(raft.Follower, "n1", "n2")
	step(raft.Leader, "n1", "n2", "n3")
	step(raft.FailedHeartbeatObservation{PeerID: "n3"}, "n1", "n2")
	step(raft.PeerObservation{Removed: true, Peer: raft.Server{ID: "n3"}}, "n1", "n2", "n3")
	step(raft.FailedHeartbeatObservation{PeerID: "n2"}, "n1", "n3")
	w.forgetFailures()
	if got := w.reachable(members); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("after forgetFailures: %v", got)
	}
}

func TestWatchLeadershipKeepsLatestValue(t *testing.T) {
	w := newWatch("n1")
	ch := w.subscribe(context.Background())
	if v := <-ch; v {
		t.Fatal("initial value true before any notification")
	}
	w.setLeading(true)
	w.setLeading(false)
	w.setLeading(true)
	if v := <-ch; !v {
		t.Fatal("slow reader did not get the latest value")
	}
	select {
	case v := <-ch:
		t.Fatalf("stale value %v still buffered", v)
	default:
	}
	w.close()
	if _, ok := <-ch; ok {
		t.Fatal("channel open after close")
	}
	if _, ok := <-w.subscribe(context.Background()); ok {
		t.Fatal("subscription after close is open")
	}
}
