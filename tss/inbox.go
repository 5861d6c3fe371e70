package tss

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

// inbound is a parsed message from an authenticated member (or, in a
// resharing session, from this node's other local party) and the indexes of
// the local parties it is for.
type inbound struct {
	from string
	msg  tsslib.ParsedMessage
	to   []int
}

// inbox holds parsed inbound messages until the session's worker feeds them
// to tss-lib. It is bounded: one message per slot and at most maxSlots slots.
// put never blocks, so transport goroutines are never held up by protocol
// computation.
type inbox struct {
	mu       sync.Mutex
	slots    map[slot]struct{}
	maxSlots int
	queue    []inbound
	notify   chan struct{} // capacity 1: "queue is non-empty"
}

func newInbox(maxSlots int) *inbox {
	return &inbox{
		slots:    make(map[slot]struct{}, maxSlots),
		maxSlots: maxSlots,
		notify:   make(chan struct{}, 1),
	}
}

// put claims the message's slot and queues it. It returns ErrDuplicate for a
// filled slot and ErrBadMessage when the sender has used up its slots.
func (b *inbox) put(in inbound) error {
	k := slot{msgType: in.msg.Type(), from: in.from}
	b.mu.Lock()
	if _, dup := b.slots[k]; dup {
		b.mu.Unlock()
		return ErrDuplicate
	}
	if len(b.slots) >= b.maxSlots {
		b.mu.Unlock()
		return ErrBadMessage
	}
	b.slots[k] = struct{}{}
	b.queue = append(b.queue, in)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
	return nil
}

// take returns and clears the queued messages in arrival order.
func (b *inbox) take() []inbound {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.queue
	b.queue = nil
	return q
}

// received counts the filled slots per sender; used to name stalled members
// when tss-lib cannot be asked.
func (b *inbox) received() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string]int)
	for k := range b.slots {
		out[k.from]++
	}
	return out
}
