package dedup_test

import (
	"errors"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm/dedup"
	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
)

// The memory keeps at most Max records and none past the age, and a
// lookup past the age is a new request even before the record is trimmed.
func TestTableEvictsByCountAndAge(t *testing.T) {
	b := dedup.Bounds{Max: 2, Age: 100}
	tb := &dedup.Table{Requests: map[string]*dedup.Request{}}
	in := dedup.HashInput("x")
	for i, id := range []string{"a", "b", "c"} {
		tb.Remember(&dedup.Request{ID: id, Op: "op", Input: in}, uint64(i+1), int64(i), b)
	}
	if _, ok := tb.Requests["a"]; ok || len(tb.RequestOrder) != 2 {
		t.Fatalf("kept %v, want the newest two", tb.RequestOrder)
	}
	if r, err := tb.Lookup("b", "op", in, 50, b); r == nil || err != nil {
		t.Fatalf("lookup of a fresh record: %v, %v", r, err)
	}
	if _, err := tb.Lookup("b", "other", in, 50, b); !errors.Is(err, fsmerr.ErrRequestConflict) {
		t.Fatalf("another op under the id: %v, want a conflict", err)
	}
	if r, err := tb.Lookup("b", "op", in, 101, b); r != nil || err != nil {
		t.Fatalf("lookup past the age: %v, %v, want a new request", r, err)
	}
	if _, ok := tb.Requests["b"]; ok {
		t.Fatal("a record past the age was looked up but not forgotten")
	}
	tb.Remember(&dedup.Request{ID: "d", Op: "op", Input: in}, 9, 200, b)
	if len(tb.RequestOrder) != 1 || tb.RequestOrder[0] != "d" {
		t.Fatalf("kept %v after the age passed, want only d", tb.RequestOrder)
	}
}

// Input hashes are length-prefixed: moving a boundary between fields
// changes the hash.
func TestHashInputSeparatesFields(t *testing.T) {
	if dedup.HashInput("ab", "c") == dedup.HashInput("a", "bc") {
		t.Fatal("two field lists with the same concatenation hash alike")
	}
}
