package tss

import (
	"fmt"
	"maps"
	"time"
)

// pending holds messages for sessions that have not started on this node yet
// (this replica applied the Raft entry later than its peers). It is bounded
// per session, per sender and in total, and entries expire after a TTL. The
// per-sender share (count and bytes) keeps one member from filling the
// buffer for everyone: a sender over its share has its own messages dropped
// and counted, while the others keep theirs. Not safe for concurrent use:
// the engine's mutex guards it.
type pending struct {
	perSession     int
	total          int
	maxBytes       int
	perSender      int
	perSenderBytes int
	ttl            time.Duration
	// expired is when expire last ran: it walks every held session, so
	// add runs it at most once per expireEvery, not per message (a
	// flooding sender would otherwise buy a walk of its whole share, under
	// the engine's lock, with each message).
	expired   time.Time
	count     int
	bytes     int
	bySession map[SessionID]*pendingEntry
	bySender  map[string]*senderShare
	// dropped counts, per sender, the messages refused because the sender
	// was over its share. Senders are authenticated members, so the map is
	// bounded by the cluster's size.
	dropped map[string]uint64
}

type pendingEntry struct {
	first time.Time
	msgs  []Message
}

// senderShare is what one sender holds in the buffer now.
type senderShare struct {
	count, bytes int
}

func newPending(cfg Config) *pending {
	return &pending{perSession: cfg.MaxPendingPerSession, total: cfg.MaxPendingTotal, maxBytes: cfg.MaxPendingBytes,
		perSender: cfg.MaxPendingPerSender, perSenderBytes: cfg.MaxPendingBytesPerSender, ttl: cfg.PendingTTL,
		bySession: make(map[SessionID]*pendingEntry), bySender: make(map[string]*senderShare), dropped: make(map[string]uint64)}
}

// add holds m, or returns an error wrapping ErrPendingFull. The sender's
// share is checked first, so a flooding sender is told (and counted) as
// such even once it has also filled the shared total.
func (p *pending) add(now time.Time, m Message) error {
	if now.Sub(p.expired) >= min(p.ttl/16, expireEvery) || now.Before(p.expired) {
		p.expire(now)
		p.expired = now
	}
	sh := p.bySender[m.From]
	if sh != nil && (sh.count >= p.perSender || sh.bytes+len(m.Payload) > p.perSenderBytes) {
		p.dropped[m.From]++
		return fmt.Errorf("%w: sender %q is over its share (%d messages, %d bytes held)", ErrPendingFull, m.From, sh.count, sh.bytes)
	}
	e := p.bySession[m.Session]
	if p.count >= p.total || p.bytes+len(m.Payload) > p.maxBytes || (e != nil && len(e.msgs) >= p.perSession) {
		return ErrPendingFull
	}
	if e == nil {
		e = &pendingEntry{first: now}
		p.bySession[m.Session] = e
	}
	if sh == nil {
		sh = &senderShare{}
		p.bySender[m.From] = sh
	}
	e.msgs = append(e.msgs, m)
	p.count++
	p.bytes += len(m.Payload)
	sh.count++
	sh.bytes += len(m.Payload)
	return nil
}

// expireEvery bounds how long an expired entry can outlive its TTL.
const expireEvery = time.Second

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
		if sh := p.bySender[m.From]; sh != nil {
			sh.count--
			sh.bytes -= len(m.Payload)
			if sh.count == 0 {
				delete(p.bySender, m.From)
			}
		}
	}
}

// droppedBySender returns a copy of the over-share drop counts.
func (p *pending) droppedBySender() map[string]uint64 { return maps.Clone(p.dropped) }

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
