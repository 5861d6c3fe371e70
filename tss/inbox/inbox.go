// Package inbox holds a session's parsed inbound round messages until the
// session's worker feeds them to tss-lib. It is bounded: one message per
// (type, sender) slot, so a replay is refused, and a fixed number of slots.
package inbox

import (
	"sync"

	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// slot is one expected inbound message: tss-lib sends each member at most
// one message of each type per session, so a second one is a replay. In a
// resharing session each message type has one sending committee, and a
// message for both of a node's local parties travels once, so (type, sender
// node) still names one message; messages between this node's own parties
// use this node's ID as sender.
type slot struct {
	msgType string
	from    string
}

// Message is a parsed message from an authenticated member (or, in a
// resharing session, from this node's other local party) and the indexes of
// the local parties it is for.
type Message struct {
	From string
	Msg  tsslib.ParsedMessage
	To   []int
}

// Sender and Parsed let a session's checker (msgcheck's Inbound) read the
// message.
func (m Message) Sender() string               { return m.From }
func (m Message) Parsed() tsslib.ParsedMessage { return m.Msg }

// Refusal says why Put turned a message away.
type Refusal int

const (
	// Accepted: the message is queued.
	Accepted Refusal = iota
	// Duplicate: the message's slot is already filled.
	Duplicate
	// Full: every slot is taken.
	Full
)

// Inbox is safe for concurrent use. Put never blocks, so transport
// goroutines are never held up by protocol computation.
type Inbox struct {
	mu       sync.Mutex
	slots    map[slot]struct{}
	maxSlots int
	queue    []Message
	notify   chan struct{} // capacity 1: "queue is non-empty"
}

// New returns an empty inbox of maxSlots slots.
func New(maxSlots int) *Inbox {
	return &Inbox{
		slots:    make(map[slot]struct{}, maxSlots),
		maxSlots: maxSlots,
		notify:   make(chan struct{}, 1),
	}
}

// Put claims the message's slot and queues it.
func (b *Inbox) Put(m Message) Refusal {
	k := slot{msgType: m.Msg.Type(), from: m.From}
	b.mu.Lock()
	if _, dup := b.slots[k]; dup {
		b.mu.Unlock()
		return Duplicate
	}
	if len(b.slots) >= b.maxSlots {
		b.mu.Unlock()
		return Full
	}
	b.slots[k] = struct{}{}
	b.queue = append(b.queue, m)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
	return Accepted
}

// Notify receives when the queue may have become non-empty.
func (b *Inbox) Notify() <-chan struct{} { return b.notify }

// Take returns and clears the queued messages in arrival order.
func (b *Inbox) Take() []Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queue
	b.queue = nil
	return q
}

// Received counts the filled slots per sender; used to name stalled members
// when tss-lib cannot be asked.
func (b *Inbox) Received() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int)
	for k := range b.slots {
		out[k.from]++
	}
	return out
}
