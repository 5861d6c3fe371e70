package tss

import "context"

// Message is one tss-lib round message on the wire. From is set by the
// receiver's transport from the authenticated peer identity (mTLS), never
// taken from the payload. To lists the recipient nodes: for a broadcast
// (Broadcast true) every other member that must receive it (in resharing,
// the members of the addressed committee or committees), so a transport
// needs no knowledge of the committee. A node that runs a party in both
// resharing committees receives one copy and the engine routes it to the
// right party. Payload is tss-lib's WireBytes and is
// public protocol data (it never holds a share in the clear). After Deliver
// the engine owns Payload; the caller must not modify it.
type Message struct {
	Session   SessionID
	From      string
	To        []string
	Broadcast bool
	Payload   []byte
}

// Transport carries messages to other members. Send is called from a
// session's drain goroutine and must not block for long: queue and return.
// An error fails the session (AbortError naming the recipients as stalled).
type Transport interface {
	Send(ctx context.Context, m Message) error
}
