package tss_test

import (
	"context"
	"errors"
	"testing"

	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/tsstest"
)

// pendingConfig is a small pending buffer shared by three senders.
func pendingConfig() tss.Config {
	cfg := testConfig()
	cfg.MaxMessageBytes = 1024
	cfg.MaxPendingPerSession = 5
	cfg.MaxPendingTotal = 30
	cfg.MaxPendingBytes = 30 * 1024
	cfg.SharePending(3)
	return cfg
}

func TestPendingFloodingSenderDropsOnlyItsOwnMessages(t *testing.T) {
	cfg := pendingConfig()
	if cfg.MaxPendingPerSender != 10 || cfg.MaxPendingBytesPerSender != 10*1024 {
		t.Fatalf("shares = %d messages, %d bytes; want 10, 10240", cfg.MaxPendingPerSender, cfg.MaxPendingBytesPerSender)
	}
	e, err := tss.NewEngine(cfg, "node-a", tsstest.NewNetwork().Transport("node-a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var refused int
	for i := range 1000 {
		err := e.Deliver(tss.Message{Session: newSID(t), From: "node-m", Payload: []byte{byte(i)}})
		switch {
		case err == nil:
		case errors.Is(err, tss.ErrPendingFull):
			refused++
		default:
			t.Fatalf("flood message %d: %v", i, err)
		}
	}
	if refused != 990 {
		t.Fatalf("refused %d flood messages, want 990 (all beyond the share of 10)", refused)
	}
	// The honest senders still get their whole share each.
	for _, from := range []string{"node-b", "node-c"} {
		for i := range cfg.MaxPendingPerSender {
			if err := e.Deliver(tss.Message{Session: newSID(t), From: from, Payload: []byte{byte(i)}}); err != nil {
				t.Fatalf("%s message %d refused while node-m floods: %v", from, i, err)
			}
		}
	}
	got := e.PendingDropped()
	if got["node-m"] != 990 || got["node-b"] != 0 || got["node-c"] != 0 || len(got) != 1 {
		t.Fatalf("PendingDropped = %v, want only node-m: 990", got)
	}
}

func TestPendingSenderShareCountsBytes(t *testing.T) {
	cfg := pendingConfig()
	e, err := tss.NewEngine(cfg, "node-a", tsstest.NewNetwork().Transport("node-a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1000)
	for i := range 10 {
		if err := e.Deliver(tss.Message{Session: newSID(t), From: "node-m", Payload: big}); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	// Ten messages of 1,000 bytes fit in 10,240; one more byte-heavy
	// message does not, whatever its session.
	if err := e.Deliver(tss.Message{Session: newSID(t), From: "node-m", Payload: big}); !errors.Is(err, tss.ErrPendingFull) {
		t.Fatalf("over the byte share: err = %v, want ErrPendingFull", err)
	}
	if err := e.Deliver(tss.Message{Session: newSID(t), From: "node-b", Payload: big}); err != nil {
		t.Fatalf("another sender: %v", err)
	}
}

// A sender's share frees up when its held messages are taken by a session
// that starts (here: ends at once for lack of a valid request) or dropped.
func TestPendingSenderShareFreedWhenSessionStarts(t *testing.T) {
	cfg := pendingConfig()
	_, engines, shares := freshCluster(t, cfg)
	a := engines["node-a"]
	sid := newSID(t)
	for i := range cfg.MaxPendingPerSender {
		s := sid
		if i >= cfg.MaxPendingPerSession {
			s = newSID(t)
		}
		if err := a.Deliver(tss.Message{Session: s, From: "node-b", Payload: []byte{byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Deliver(tss.Message{Session: newSID(t), From: "node-b"}); !errors.Is(err, tss.ErrPendingFull) {
		t.Fatalf("full share: err = %v", err)
	}
	// Starting sid takes its five held messages (garbage: the session
	// rejects them; the share they used is freed when it starts).
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _ = a.Sign(ctx, tss.SignRequest{Session: sid, Share: shares["node-a"], Committee: committees[0], Message: []byte("m")})
	if err := a.Deliver(tss.Message{Session: newSID(t), From: "node-b"}); err != nil {
		t.Fatalf("share not freed after the session took its messages: %v", err)
	}
}

func TestConfigRefusesPerSenderShareBelowOneMessage(t *testing.T) {
	cfg := tss.DefaultConfig()
	cfg.MaxPendingBytesPerSender = cfg.MaxMessageBytes - 1
	if cfg.Validate() == nil {
		t.Fatal("a per-sender byte share below one message validated")
	}
	cfg = tss.DefaultConfig()
	cfg.MaxPendingPerSender = 0
	if cfg.Validate() == nil {
		t.Fatal("a zero per-sender share validated")
	}
	cfg = tss.DefaultConfig()
	cfg.SharePending(100)
	if err := cfg.Validate(); err != nil || cfg.MaxPendingBytesPerSender != cfg.MaxMessageBytes {
		t.Fatalf("SharePending(100): %v, byte share %d", err, cfg.MaxPendingBytesPerSender)
	}
}
