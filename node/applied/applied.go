// Package applied tells a member's work of the entries its replica
// applies, and only that: the queue its dispatch drains (Queue, the
// state machine's Observer), and the waiters a request handler sleeps on
// until an applied entry concerns it (Waiters). Raft's apply loop feeds
// both and never blocks on either.
package applied

import (
	"context"
	"strings"
	"sync"

	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// Event is one applied log entry as the member sees it, or with Announced
// set, signing attempts of an entry the leader has applied and this
// member has not yet (see bypass.Work.SignCommitted).
type Event struct {
	Index     uint64
	Cmd       fsm.Command
	Res       fsm.Result
	Announced []*fsm.Sign
}

// Queue is the FSM's Observer. Applied runs inside raft's apply loop, so
// it only wakes waiters and appends to a queue that Take drains; the
// queue grows with the apply backlog rather than ever blocking raft.
type Queue struct {
	waiters *Waiters
	// Observe, when set before raft opens, sees every applied entry on
	// raft's apply loop, in order; it must be quick and must not block.
	Observe func(index uint64, cmd fsm.Command, res fsm.Result)

	mu     sync.Mutex
	items  []Event
	wake   chan struct{}
	closed bool
}

// NewQueue returns a queue that also wakes w's waiters.
func NewQueue(w *Waiters) *Queue {
	return &Queue{waiters: w, wake: make(chan struct{}, 1)}
}

var _ fsm.Observer = (*Queue)(nil)

// Applied implements fsm.Observer.
func (q *Queue) Applied(index uint64, cmd fsm.Command, res fsm.Result) {
	switch c := cmd.(type) {
	case *fsm.SignRequested:
		q.waiters.notify(appliedKey(c.RequestID))
	case *fsm.SignRetry:
		q.waiters.notify(appliedKey(c.RequestID))
	case *fsm.SignCompleted:
		q.waiters.notify(signKey(c.RequestID))
	case *fsm.SignFailed:
		q.waiters.notify(signKey(c.RequestID))
	case *fsm.ShareStored:
		q.waiters.notify(keyKey(c.Key))
	case *fsm.KeygenFailed:
		q.waiters.notify(keyKey(c.Key))
	case *fsm.ShareRefreshed:
		q.waiters.notify(keyKey(c.Key))
	case *fsm.RefreshFailed:
		q.waiters.notify(keyKey(c.Key))
	case *fsm.ChangeKey:
		q.waiters.notify(keyKey(c.Key))
	}
	// A dual-sign companion's waiter is its parent's; a revocation ends
	// other requests than its own.
	if s := res.Sign; s != nil && s.Parent != "" {
		q.waiters.notify(signKey(s.Parent))
	}
	for _, id := range res.Ended {
		q.waiters.notify(signKey(id))
		if p, _, ok := strings.Cut(id, "#"); ok {
			q.waiters.notify(signKey(p))
		}
	}
	if q.Observe != nil {
		q.Observe(index, cmd, res)
	}
	q.push(Event{Index: index, Cmd: cmd, Res: res})
}

// AddAnnounced queues signing attempts to start before their entry is
// applied here: only under the trust-announce bug (node/bypass).
func (q *Queue) AddAnnounced(index uint64, signs []*fsm.Sign) {
	q.push(Event{Index: index, Announced: signs})
}

func (q *Queue) push(ev Event) {
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, ev)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Take returns the queued events, waiting for some if there are none;
// false once ctx ends.
func (q *Queue) Take(ctx context.Context) ([]Event, bool) {
	for {
		q.mu.Lock()
		items := q.items
		q.items = nil
		q.mu.Unlock()
		if len(items) > 0 {
			return items, true
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-q.wake:
		}
	}
}

// Close drops the queued events and any applied later.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed, q.items = true, nil
	q.mu.Unlock()
}

func signKey(requestID string) string { return "sign/" + requestID }
func keyKey(name string) string       { return "key/" + name }

// appliedKey wakes whoever waits for an attempt of the request to be
// applied here (a FROST coordinator holding an early share).
func appliedKey(requestID string) string { return "applied/" + requestID }

// Waiters lets request handlers sleep until an applied entry concerns
// them. A handler registers first, then checks the state, then waits, so
// it cannot miss a notification between the check and the wait.
type Waiters struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

// NewWaiters returns waiters no one waits on yet.
func NewWaiters() *Waiters { return &Waiters{m: map[string]chan struct{}{}} }

// WatchSign returns a channel closed when an applied entry completes,
// fails or ends the sign request.
func (w *Waiters) WatchSign(requestID string) <-chan struct{} { return w.watch(signKey(requestID)) }

// WatchKey returns a channel closed when an applied entry stores, fails
// or changes the key.
func (w *Waiters) WatchKey(name string) <-chan struct{} { return w.watch(keyKey(name)) }

// WatchApplied returns a channel closed when an attempt of the sign
// request is applied.
func (w *Waiters) WatchApplied(requestID string) <-chan struct{} {
	return w.watch(appliedKey(requestID))
}

// watch returns a channel closed by the next notify of key.
func (w *Waiters) watch(key string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.m[key]
	if !ok {
		ch = make(chan struct{})
		w.m[key] = ch
	}
	return ch
}

func (w *Waiters) notify(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.m[key]; ok {
		close(ch)
		delete(w.m, key)
	}
}
