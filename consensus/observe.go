package consensus

import (
	"context"
	"slices"
	"sync"

	"github.com/hashicorp/raft"
)

// observerBuffer is the observation channel's capacity. raft drops an
// observation rather than block when it is full; the consumer only takes a
// mutex per observation, so this depth is not reached in practice; a drop
// is logged and resets reachability (see consumeObservations).
const observerBuffer = 1024

// watch tracks what raft tells us asynchronously: which followers the
// leader fails to heartbeat, and leadership changes for subscribers.
type watch struct {
	self string

	mu      sync.Mutex
	failed  map[string]bool // peer id -> heartbeats failing, as seen while leader
	leading bool            // last value raft sent on NotifyCh
	subs    map[chan bool]struct{}
	closed  bool
	done    chan struct{} // closed by close
}

func newWatch(self string) *watch {
	return &watch{self: self, failed: map[string]bool{}, subs: map[chan bool]struct{}{}, done: make(chan struct{})}
}

// observe applies one raft observation. It runs on the single consumer
// goroutine, in the order raft emitted them: raft announces the Leader state
// before it starts any replication, so the reset below cannot erase a
// failure seen in the new term.
func (w *watch) observe(o raft.Observation) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch d := o.Data.(type) {
	case raft.RaftState:
		if d == raft.Leader {
			// Heartbeat failure counters restart with each term; a peer
			// that failed under an earlier term gets no Resumed event.
			clear(w.failed)
		}
	case raft.FailedHeartbeatObservation:
		w.failed[string(d.PeerID)] = true
	case raft.ResumedHeartbeatObservation:
		delete(w.failed, string(d.PeerID))
	case raft.PeerObservation:
		if d.Removed {
			delete(w.failed, string(d.Peer.ID))
		}
	}
}

// forgetFailures presumes every member reachable again.
func (w *watch) forgetFailures() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.failed)
}

// reachable filters members down to self plus those not failing heartbeats.
func (w *watch) reachable(members []string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := []string{w.self}
	for _, id := range members {
		if id != w.self && !w.failed[id] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func isObserved(o *raft.Observation) bool {
	switch o.Data.(type) {
	case raft.RaftState, raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation, raft.PeerObservation:
		return true
	}
	return false
}

// setLeading records a NotifyCh value and hands it to every subscriber,
// replacing any value the subscriber has not read yet.
func (w *watch) setLeading(v bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.leading = v
	for ch := range w.subs {
		offerLatest(ch, v)
	}
}

// offerLatest leaves exactly v buffered in ch (capacity 1). Callers hold
// w.mu, the only path that sends, so the send never blocks.
func offerLatest(ch chan bool, v bool) {
	select {
	case <-ch:
	default:
	}
	ch <- v
}

func (w *watch) subscribe(ctx context.Context) <-chan bool {
	ch := make(chan bool, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		close(ch)
		return ch
	}
	w.subs[ch] = struct{}{}
	ch <- w.leading
	if ctx.Done() != nil {
		go func() {
			select {
			case <-ctx.Done():
				w.unsubscribe(ch)
			case <-w.done:
			}
		}()
	}
	return ch
}

func (w *watch) unsubscribe(ch chan bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.subs[ch]; ok {
		delete(w.subs, ch)
		close(ch)
	}
}

// close ends every subscription; later subscribers get a closed channel.
func (w *watch) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	close(w.done)
	for ch := range w.subs {
		delete(w.subs, ch)
		close(ch)
	}
}
