package tss

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A heavy session's step waits for a token of its gate; a session without
// a gate (signing's online phase) never waits; a step that waits gives up
// with its session's context.
func TestHeavyStepsShareTheGate(t *testing.T) {
	gate := make(chan struct{}, 1)
	a, b, online := &session{gate: gate}, &session{gate: gate}, &session{}

	inA, leaveA := make(chan struct{}), make(chan struct{})
	doneA := make(chan error, 1)
	go func() {
		doneA <- a.step(context.Background(), func() error {
			close(inA)
			<-leaveA
			return nil
		})
	}()
	<-inA

	ran := false
	if err := online.step(context.Background(), func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("ungated step while a heavy step computes: ran=%v err=%v", ran, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := b.step(ctx, func() error { t.Error("second heavy step ran while the first held the only token"); return nil })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting heavy step: %v, want its context's deadline", err)
	}

	close(leaveA)
	if err := <-doneA; err != nil {
		t.Fatal(err)
	}
	ran = false
	if err := b.step(context.Background(), func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("heavy step after the token came back: ran=%v err=%v", ran, err)
	}
	if len(gate) != 0 {
		t.Fatalf("%d tokens still held after every step returned", len(gate))
	}
}

func TestHeavyWorkersMustBePositive(t *testing.T) {
	c := DefaultConfig()
	if c.HeavyWorkers < 1 {
		t.Fatalf("default HeavyWorkers %d", c.HeavyWorkers)
	}
	c.HeavyWorkers = 0
	if err := c.Validate(); err == nil {
		t.Fatal("HeavyWorkers 0 accepted")
	}
}
