package node

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/frostsign"
	"github.com/keyquorum/keyquorum/node/metrics"
)

// event is one applied log entry as the node sees it, or with announced
// set, signing attempts of an entry the leader has applied and this node
// has not yet (see bypass.Work.SignCommitted).
type event struct {
	index     uint64
	cmd       fsm.Command
	res       fsm.Result
	announced []*fsm.Sign
}

// eventQueue is the FSM's Observer. Applied runs inside raft's apply loop,
// so it only wakes waiters and appends to a queue that dispatch drains; the
// queue grows with the apply backlog rather than ever blocking raft.
type eventQueue struct {
	waiters *waiters
	// observe, when set before raft opens, sees every applied entry on
	// raft's apply loop, in order; it must be quick and must not block.
	observe func(index uint64, cmd fsm.Command, res fsm.Result)

	mu     sync.Mutex
	items  []event
	wake   chan struct{}
	closed bool
}

func newEventQueue(w *waiters) *eventQueue {
	return &eventQueue{waiters: w, wake: make(chan struct{}, 1)}
}

var _ fsm.Observer = (*eventQueue)(nil)

func (q *eventQueue) Applied(index uint64, cmd fsm.Command, res fsm.Result) {
	switch c := cmd.(type) {
	case *fsm.SignRequested:
		q.waiters.notify(appliedWaitKey(c.RequestID))
	case *fsm.SignRetry:
		q.waiters.notify(appliedWaitKey(c.RequestID))
	case *fsm.SignCompleted:
		q.waiters.notify(signWaitKey(c.RequestID))
	case *fsm.SignFailed:
		q.waiters.notify(signWaitKey(c.RequestID))
	case *fsm.ShareStored:
		q.waiters.notify(keyWaitKey(c.Key))
	case *fsm.KeygenFailed:
		q.waiters.notify(keyWaitKey(c.Key))
	case *fsm.ShareRefreshed:
		q.waiters.notify(keyWaitKey(c.Key))
	case *fsm.RefreshFailed:
		q.waiters.notify(keyWaitKey(c.Key))
	case *fsm.ChangeKey:
		q.waiters.notify(keyWaitKey(c.Key))
	}
	// A dual-sign companion's waiter is its parent's; a revocation ends
	// other requests than its own.
	if s := res.Sign; s != nil && s.Parent != "" {
		q.waiters.notify(signWaitKey(s.Parent))
	}
	for _, id := range res.Ended {
		q.waiters.notify(signWaitKey(id))
		if p, _, ok := strings.Cut(id, "#"); ok {
			q.waiters.notify(signWaitKey(p))
		}
	}
	if q.observe != nil {
		q.observe(index, cmd, res)
	}
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, event{index: index, cmd: cmd, res: res})
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// addAnnounced queues signing attempts to start before their entry is
// applied here: only under the trust-announce bug (node/bypass).
func (q *eventQueue) addAnnounced(index uint64, signs []*fsm.Sign) {
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, event{index: index, announced: signs})
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take returns the queued events, waiting for some if there are none.
func (q *eventQueue) take(ctx context.Context) ([]event, bool) {
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

func (q *eventQueue) close() {
	q.mu.Lock()
	q.closed, q.items = true, nil
	q.mu.Unlock()
}

func signWaitKey(requestID string) string { return "sign/" + requestID }
func keyWaitKey(name string) string       { return "key/" + name }

// appliedWaitKey wakes whoever waits for an attempt of the request to be
// applied here (a FROST coordinator holding an early share).
func appliedWaitKey(requestID string) string { return "applied/" + requestID }

// waiters lets request handlers sleep until an applied entry concerns them.
// A handler registers first, then checks the state, then waits, so it
// cannot miss a notification between the check and the wait.
type waiters struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

func newWaiters() *waiters { return &waiters{m: map[string]chan struct{}{}} }

// watch returns a channel closed by the next notify of key.
func (w *waiters) watch(key string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.m[key]
	if !ok {
		ch = make(chan struct{})
		w.m[key] = ch
	}
	return ch
}

func (w *waiters) notify(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ch, ok := w.m[key]; ok {
		close(ch)
		delete(w.m, key)
	}
}

// dispatch starts the work that applied entries ask of this node. Entries
// replayed from disk at start (index <= startIdx) are history: their work
// was done or abandoned before the restart, and the leader retries whatever
// is still pending under a new attempt.
//
// A signing attempt starts when this node applies and accepts its entry
// (sign_start.go). Under the trust-announce bug it may start earlier, on
// the leader's word (an announced event), and then not again when applied;
// both pass through this one goroutine, so no lock decides the race.
func (n *Node) dispatch(ctx context.Context) {
	applied := n.startIdx          // highest entry dispatched
	announced := map[string]bool{} // attempts started on announcement, until their entry is applied
	for {
		evs, ok := n.events.take(ctx)
		if !ok {
			return
		}
		for _, ev := range evs {
			if ev.announced != nil {
				if ev.index <= applied {
					continue // applied here first: already started, or refused
				}
				for _, s := range ev.announced {
					announced[frostsign.AttemptKey(s)] = true
					n.metrics.SignStarted(metrics.StartAnnounced)
					n.startSign(ctx, s)
				}
				continue
			}
			applied = max(applied, ev.index)
			if ev.index > n.startIdx {
				n.frost.Applied(ev.index, ev.cmd, ev.res) // claims nonces before any work starts
			}
			if ev.index <= n.startIdx || ev.res.Err != nil || ev.res.Duplicate {
				continue
			}
			switch ev.cmd.(type) {
			case *fsm.CreateKey:
				if k := ev.res.Key; k != nil && k.HasMember(n.self.ID) {
					n.spawn(func() { n.runKeygen(ctx, k, 1) })
				}
			case *fsm.SignRequested, *fsm.SignRetry:
				for _, s := range n.startedBy(ev.index, ev.res.Sign) {
					if announced[frostsign.AttemptKey(s)] {
						delete(announced, frostsign.AttemptKey(s))
						continue
					}
					n.metrics.SignStarted(metrics.StartApplied)
					n.startSign(ctx, s)
				}
			case *fsm.PresignRequested:
				if p := ev.res.Presig; p != nil && slices.Contains(p.Committee, n.self.ID) {
					n.spawn(func() { n.presigs.Run(ctx, ev.index, p) })
				}
			case *fsm.PresignDiscarded, *fsm.NodeBooted:
				n.parked.Sweep(n.fsm.HasPresig)
			default:
				n.lifecycleEvent(ctx, ev)
			}
		}
	}
}
