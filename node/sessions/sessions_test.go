package sessions

import (
	"context"
	"testing"
)

func TestCancelStopsOnlyThatVersion(t *testing.T) {
	var r Running
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	other, cancelOther := context.WithCancel(context.Background())
	defer cancelOther()
	r.Add("k", 1, cancel1)
	r.Add("k", 1, cancel2)
	r.Add("k", 11, cancelOther) // "k/11" must not be taken for "k/1"
	if n := r.Cancel("k", 1); n != 2 {
		t.Fatalf("Cancel = %d, want 2", n)
	}
	if ctx1.Err() == nil || ctx2.Err() == nil {
		t.Fatal("a session of the cancelled version still runs")
	}
	if other.Err() != nil {
		t.Fatal("a session of another version was cancelled")
	}
	if n := r.Cancel("k", 1); n != 0 {
		t.Fatalf("second Cancel = %d, want 0", n)
	}
}

func TestRemovedSessionIsNotCancelled(t *testing.T) {
	var r Running
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	remove := r.Add("k", 2, cancel)
	remove()
	if n := r.Cancel("k", 2); n != 0 || ctx.Err() != nil {
		t.Fatalf("Cancel after removal = %d (ctx err %v), want 0 and a live session", n, ctx.Err())
	}
}
