package tss

import "time"

// pending holds messages for sessions that have not started on this node yet
// (this replica applied the Raft entry later than its peers). It is bounded
// per session and in total, and entries expire after a TTL. Not safe for
// concurrent use: the engine's mutex guards it.
type pending struct {
	perSession int
	total      int
	maxBytes   int
	ttl        time.Duration
	count      int
	bytes      int
	bySession  map[SessionID]*pendingEntry
}

type pendingEntry struct {
	first time.Time
	msgs  []Message
}

func newPending(perSession, total, maxBytes int, ttl time.Duration) *pending {
	return &pending{perSession: perSession, total: total, maxBytes: maxBytes, ttl: ttl,
		bySession: make(map[SessionID]*pendingEntry)}
}

// add holds m, or returns ErrPendingFull.
func (p *pending) add(now time.Time, m Message) error {
	p.expire(now)
	e := p.bySession[m.Session]
	if p.count >= p.total || p.bytes+len(m.Payload) > p.maxBytes || (e != nil && len(e.msgs) >= p.perSession) {
		return ErrPendingFull
	}
	if e == nil {
		e = &pendingEntry{first: now}
		p.bySession[m.Session] = e
	}
	e.msgs = append(e.msgs, m)
	p.count++
	p.bytes += len(m.Payload)
	return nil
}

// take removes and returns the messages held for id.
func (p *pending) take(id SessionID) []Message {
	e := p.bySession[id]
	if e == nil {
		return nil
	}
	p.forget(id, e)
	return e.msgs
}

// drop forgets messages for id without returning them.
func (p *pending) drop(id SessionID) { p.take(id) }

func (p *pending) expire(now time.Time) {
	for id, e := range p.bySession {
		if now.Sub(e.first) > p.ttl {
			p.forget(id, e)
		}
	}
}

func (p *pending) forget(id SessionID, e *pendingEntry) {
	delete(p.bySession, id)
	p.count -= len(e.msgs)
	for _, m := range e.msgs {
		p.bytes -= len(m.Payload)
	}
}

// recent remembers the last n finished session IDs (a ring) so late messages
// for them are dropped and IDs are never run twice on one engine.
type recent struct {
	ring []SessionID
	next int
	set  map[SessionID]struct{}
}

func newRecent(n int) *recent {
	return &recent{ring: make([]SessionID, 0, n), set: make(map[SessionID]struct{}, n)}
}

func (r *recent) add(id SessionID) {
	if cap(r.ring) == 0 {
		return
	}
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, id)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = id
		r.next = (r.next + 1) % len(r.ring)
	}
	r.set[id] = struct{}{}
}

func (r *recent) has(id SessionID) bool {
	_, ok := r.set[id]
	return ok
}
