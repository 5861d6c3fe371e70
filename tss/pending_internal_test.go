package tss

import (
	"testing"
	"time"
)

// Expiry walks the whole buffer, so add runs it at most once per
// min(TTL/16, expireEvery), yet an entry past its TTL still goes within
// that bound.
func TestPendingExpiresAtMostOncePerInterval(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PendingTTL = 16 * time.Second // walks at most once a second
	p := newPending(cfg)
	t0 := time.Unix(1000, 0)
	msg := func(b byte, from string) Message {
		return Message{Session: SessionID{b}, From: from, Payload: []byte{b}}
	}
	if err := p.add(t0, msg(1, "a")); err != nil {
		t.Fatal(err)
	}
	walked := p.expired
	if err := p.add(t0.Add(500*time.Millisecond), msg(2, "b")); err != nil {
		t.Fatal(err)
	}
	if !p.expired.Equal(walked) {
		t.Fatalf("expiry walked again %s after the last walk", p.expired.Sub(walked))
	}
	// Past session 1's TTL and a second after the last walk: it goes.
	if err := p.add(t0.Add(16200*time.Millisecond), msg(3, "c")); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.bySession[SessionID{1}]; ok || p.count != 2 {
		t.Fatalf("session 1 still held (%d messages held), want it expired", p.count)
	}
	if p.bySender["a"] != nil {
		t.Fatal("sender a's share not freed by expiry")
	}
}
