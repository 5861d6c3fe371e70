package peer

import (
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// What a link writes again: after a break, everything unacknowledged from
// the window; on a live stream, only what stayed unacknowledged for
// retransmitAfter since its last write; never what the peer acknowledged.
func TestPeerLinkWritesAgainWhatWasNotAcknowledged(t *testing.T) {
	p := &peerLink{}
	t0 := time.Unix(1000, 0)
	for i := uint64(1); i <= 3; i++ {
		p.remember(t0, &kqpb.RoundMessage{Seq: i, Payload: make([]byte, 10)})
	}
	p.ack(2)
	if p.sentBytes != 20 || len(p.sent) != 2 {
		t.Fatalf("after an ack: %d messages, %d bytes held; want 2, 20", len(p.sent), p.sentBytes)
	}
	if got := seqs(p.due(t0.Add(retransmitAfter / 2))); len(got) != 0 {
		t.Fatalf("due before retransmitAfter: %v", got)
	}
	if got := seqs(p.due(t0.Add(retransmitAfter))); len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Fatalf("due after retransmitAfter: %v, want [1 3]", got)
	}
	// Just written again: not due again for another retransmitAfter.
	if got := seqs(p.due(t0.Add(retransmitAfter + time.Millisecond))); len(got) != 0 {
		t.Fatalf("due right after a retransmission: %v", got)
	}
	if got := seqs(p.recent(t0.Add(2 * retransmitAfter))); len(got) != 2 {
		t.Fatalf("recent after a break: %v, want [1 3]", got)
	}
	if got := seqs(p.recent(t0.Add(resendWindow + time.Second))); len(got) != 0 {
		t.Fatalf("recent past the window: %v", got)
	}
	p.ack(99) // unknown: nothing changes
	if len(p.sent) != 2 {
		t.Fatalf("an unknown ack dropped a message: %d held", len(p.sent))
	}
}

func seqs(ms []*kqpb.RoundMessage) []uint64 {
	var out []uint64
	for _, m := range ms {
		out = append(out, m.Seq)
	}
	return out
}
