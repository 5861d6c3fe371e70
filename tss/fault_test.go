package tss_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/tsstest"
)

// freshCluster returns new engines on a new network for the shared Ed25519
// key, so rules and errors of one test do not leak into another.
func freshCluster(t *testing.T, cfg tss.Config) (*tsstest.Network, map[string]*tss.Engine, map[string]*tss.Share) {
	t.Helper()
	f := sharedKey(t, tss.Ed25519)
	net, engines, err := tsstest.NewCluster(cfg, members...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(net.Close)
	return net, engines, f.shares
}

// waitRunning waits until e has n sessions registered. Registration happens
// on another goroutine; there is no event to wait on, so poll briefly.
func waitRunning(t *testing.T, e *tss.Engine, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for e.Running() != n {
		if time.Now().After(deadline) {
			t.Fatalf("engine has %d sessions, want %d", e.Running(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestDuplicateMessagesDropped(t *testing.T) {
	net, engines, shares := freshCluster(t, testConfig())
	var once sync.Map
	net.SetRule(func(m *tss.Message, to string) bool {
		// Deliver every message twice; the copy must be dropped.
		if _, loaded := once.LoadOrStore(string(m.Payload)+to, true); !loaded {
			_ = net.Inject(to, *m)
		}
		return true
	})
	msg := []byte("duplicated")
	sigs, errs := signAll(context.Background(), engines, shares, newSID(t), committees[0], msg)
	for id, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if !tss.Verify(tss.Ed25519, shares["node-a"].PublicKey(), msg, sigs["node-a"]) {
		t.Fatal("signature does not verify")
	}
	wantOnlyDuplicates(t, net, committees[0])
}

func TestStalledMemberTimesOut(t *testing.T) {
	cfg := testConfig()
	cfg.SessionTimeout = 500 * time.Millisecond
	net, engines, shares := freshCluster(t, cfg)
	net.SetRule(func(m *tss.Message, _ string) bool { return m.From != "node-b" })
	start := time.Now()
	_, errs := signAll(context.Background(), engines, shares, newSID(t), committees[0], []byte("stall"))
	if time.Since(start) > 5*time.Second {
		t.Fatal("timeout took too long")
	}
	var ae *tss.AbortError
	if !errors.As(errs["node-a"], &ae) || !errors.Is(errs["node-a"], tss.ErrTimeout) {
		t.Fatalf("node-a: err = %v, want AbortError wrapping ErrTimeout", errs["node-a"])
	}
	if !slices.Equal(ae.Stalled, []string{"node-b"}) {
		t.Fatalf("stalled = %v, want [node-b]", ae.Stalled)
	}
	if engines["node-a"].Running() != 0 {
		t.Fatal("session still registered after timeout")
	}
}

func TestContextDeadlineIsTimeout(t *testing.T) {
	_, engines, shares := freshCluster(t, testConfig())
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// node-c never starts its side.
	_, err := engines["node-a"].Sign(ctx, tss.SignRequest{Session: newSID(t), Share: shares["node-a"],
		Committee: committees[1], Message: []byte("m")})
	var ae *tss.AbortError
	if !errors.Is(err, tss.ErrTimeout) || !errors.As(err, &ae) || !slices.Equal(ae.Stalled, []string{"node-c"}) {
		t.Fatalf("err = %v", err)
	}
}

func TestDeliverRejectsBadInput(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageBytes = 4096
	_, engines, shares := freshCluster(t, cfg)
	a := engines["node-a"]
	sid := newSID(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := a.Sign(ctx, tss.SignRequest{Session: sid, Share: shares["node-a"], Committee: committees[0], Message: []byte("m")})
		done <- err
	}()
	waitRunning(t, a, 1)

	if err := a.Deliver(tss.Message{Session: sid, From: "mallory", Payload: []byte{1}}); !errors.Is(err, tss.ErrNotMember) {
		t.Errorf("outsider: err = %v", err)
	}
	// node-c holds a share but is not in this committee.
	if err := a.Deliver(tss.Message{Session: sid, From: "node-c", Payload: []byte{1}}); !errors.Is(err, tss.ErrNotMember) {
		t.Errorf("non-committee member: err = %v", err)
	}
	if err := a.Deliver(tss.Message{Session: sid, From: "node-a", Payload: []byte{1}}); !errors.Is(err, tss.ErrNotMember) {
		t.Errorf("own id: err = %v", err)
	}
	// Garbage that is too large must be rejected for its size, before parsing.
	if err := a.Deliver(tss.Message{Session: sid, From: "node-b", Payload: make([]byte, 4097)}); !errors.Is(err, tss.ErrMessageTooLarge) {
		t.Errorf("oversized: err = %v", err)
	}
	// Garbage from a committee member (delivery is authenticated) ends
	// the session naming it: dropped, it would leave the session waiting.
	if err := a.Deliver(tss.Message{Session: sid, From: "node-b", Payload: []byte("not protobuf")}); !errors.Is(err, tss.ErrBadMessage) {
		t.Errorf("garbage: err = %v", err)
	}
	err := <-done
	var ce *tss.CheckError
	if !errors.As(err, &ce) || ce.Member != "node-b" || ce.Check != tss.CheckParse {
		t.Fatalf("session after garbage from node-b: err = %v, want a %s check naming node-b", err, tss.CheckParse)
	}
	cancel()
	// The finished session's ID cannot be reused, and late messages are dropped quietly.
	if _, err := a.Sign(context.Background(), tss.SignRequest{Session: sid, Share: shares["node-a"], Committee: committees[0], Message: []byte("m")}); !errors.Is(err, tss.ErrSessionExists) {
		t.Fatalf("reused session: err = %v", err)
	}
	if err := a.Deliver(tss.Message{Session: sid, From: "node-b", Payload: []byte{1}}); err != nil {
		t.Fatalf("late message: err = %v", err)
	}
}

func TestMessagesBeforeSessionStartAreHeld(t *testing.T) {
	net, engines, shares := freshCluster(t, testConfig())
	first := make(chan struct{})
	var once sync.Once
	net.SetRule(func(m *tss.Message, to string) bool {
		if to == "node-c" {
			once.Do(func() { close(first) })
		}
		return true
	})
	sid := newSID(t)
	msg := []byte("late starter")
	type res struct {
		sig []byte
		err error
	}
	b := make(chan res, 1)
	go func() {
		sig, err := engines["node-b"].Sign(context.Background(), tss.SignRequest{Session: sid, Share: shares["node-b"], Committee: committees[2], Message: msg})
		b <- res{sig, err}
	}()
	<-first // node-b has sent to node-c before node-c started its session
	sig, err := engines["node-c"].Sign(context.Background(), tss.SignRequest{Session: sid, Share: shares["node-c"], Committee: committees[2], Message: msg})
	if err != nil {
		t.Fatal(err)
	}
	if r := <-b; r.err != nil || string(r.sig) != string(sig) {
		t.Fatalf("node-b: %v", r.err)
	}
	if !tss.Verify(tss.Ed25519, shares["node-c"].PublicKey(), msg, sig) {
		t.Fatal("signature does not verify")
	}
}

func TestPendingBufferBounded(t *testing.T) {
	cfg := testConfig()
	cfg.MaxPendingPerSession = 2
	cfg.MaxPendingTotal = 3
	cfg.MaxMessageBytes = 1024
	cfg.MaxPendingBytes = 1024
	e, err := tss.NewEngine(cfg, "node-a", tsstest.NewNetwork().Transport("node-a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := newSID(t), newSID(t)
	for i, want := range []error{nil, nil, tss.ErrPendingFull} {
		if err := e.Deliver(tss.Message{Session: s1, From: "node-b", Payload: []byte{byte(i)}}); !errors.Is(err, want) {
			t.Fatalf("s1 message %d: err = %v, want %v", i, err, want)
		}
	}
	if err := e.Deliver(tss.Message{Session: s2, From: "node-b"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Deliver(tss.Message{Session: s2, From: "node-b"}); !errors.Is(err, tss.ErrPendingFull) {
		t.Fatalf("total cap: err = %v", err)
	}
	e2, _ := tss.NewEngine(cfg, "node-a", tsstest.NewNetwork().Transport("node-a"), nil)
	if err := e2.Deliver(tss.Message{Session: s1, From: "node-b", Payload: make([]byte, 1000)}); err != nil {
		t.Fatal(err)
	}
	if err := e2.Deliver(tss.Message{Session: s2, From: "node-b", Payload: make([]byte, 100)}); !errors.Is(err, tss.ErrPendingFull) {
		t.Fatalf("byte cap: err = %v", err)
	}
}

func TestBusy(t *testing.T) {
	cfg := testConfig()
	cfg.MaxSessions = 1
	_, engines, shares := freshCluster(t, cfg)
	a := engines["node-a"]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = a.Sign(ctx, tss.SignRequest{Session: newSID(t), Share: shares["node-a"], Committee: committees[0], Message: []byte("m")})
	}()
	waitRunning(t, a, 1)
	_, err := a.Sign(context.Background(), tss.SignRequest{Session: newSID(t), Share: shares["node-a"], Committee: committees[0], Message: []byte("m")})
	cancel()
	<-done
	if !errors.Is(err, tss.ErrBusy) {
		t.Fatalf("err = %v, want ErrBusy", err)
	}
}
