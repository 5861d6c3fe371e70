package applied

import (
	"context"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestAppliedWakesWhoWaits: an entry wakes the waiters it concerns, and
// only those: a sign request's end, its dual-sign parent's, a key's
// change, an attempt's application; a revocation ends other requests.
func TestAppliedWakesWhoWaits(t *testing.T) {
	w := NewWaiters()
	q := NewQueue(w)
	sign, other, key, att := w.WatchSign("r1"), w.WatchSign("r2"), w.WatchKey("k"), w.WatchApplied("r3")
	q.Applied(1, &fsm.SignCompleted{RequestID: "r1"}, fsm.Result{})
	q.Applied(2, &fsm.ShareStored{Key: "k"}, fsm.Result{})
	q.Applied(3, &fsm.SignRetry{RequestID: "r3"}, fsm.Result{})
	if !closed(sign) || !closed(key) || !closed(att) || closed(other) {
		t.Fatal("the wrong waiters woke")
	}
	parent, ended := w.WatchSign("p"), w.WatchSign("e")
	q.Applied(4, &fsm.SignRequested{RequestID: "p#dual"}, fsm.Result{Sign: &fsm.Sign{Parent: "p"}})
	q.Applied(5, &fsm.ChangeKey{Key: "k2"}, fsm.Result{Ended: []string{"e#dual"}})
	if !closed(parent) || !closed(ended) || closed(other) {
		t.Fatal("a companion's parent or an ended request's waiter did not wake")
	}
}

// TestQueueKeepsOrderUntilClosed: Take returns what was applied and
// announced, in order, and nothing once the queue is closed.
func TestQueueKeepsOrderUntilClosed(t *testing.T) {
	q := NewQueue(NewWaiters())
	var seen []uint64
	q.Observe = func(index uint64, _ fsm.Command, _ fsm.Result) { seen = append(seen, index) }
	q.Applied(1, &fsm.ShareStored{Key: "k"}, fsm.Result{})
	q.AddAnnounced(3, []*fsm.Sign{{RequestID: "r"}})
	q.Applied(2, &fsm.ShareStored{Key: "k"}, fsm.Result{})
	evs, ok := q.Take(context.Background())
	if !ok || len(evs) != 3 || evs[0].Index != 1 || evs[1].Announced == nil || evs[2].Index != 2 || len(seen) != 2 {
		t.Fatalf("Take = %+v, observed %v", evs, seen)
	}
	q.Close()
	q.Applied(4, &fsm.ShareStored{Key: "k"}, fsm.Result{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if evs, ok := q.Take(ctx); ok {
		t.Fatalf("Take after Close = %+v", evs)
	}
}
