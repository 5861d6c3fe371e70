package frostsign

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// TestAppliedClaimsANonceOnceForItsAttempt: the request that consumed a
// commitment claims its nonce for that attempt alone, once; a refused or
// repeated request, and another member's commitment, claim nothing.
func TestAppliedClaimsANonceOnceForItsAttempt(t *testing.T) {
	w := New(Config{Self: "n1", Boot: "b1", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, nil, nil)
	w.nonces["f-1"] = &frostNonce{published: true}
	w.nonces["f-2"] = &frostNonce{published: true}
	s := &fsm.Sign{RequestID: "r", Attempt: 1, Frost: []fsm.FrostCommitment{{ID: "f-1", Node: "n1"}, {ID: "f-9", Node: "n2"}}}
	other := &fsm.Sign{RequestID: "r2", Attempt: 1, Frost: []fsm.FrostCommitment{{ID: "f-2", Node: "n1"}}}

	w.Applied(5, &fsm.SignRequested{}, fsm.Result{Sign: other, Err: errors.New("refused")})
	w.Applied(6, &fsm.SignRequested{}, fsm.Result{Sign: other, Duplicate: true})
	if _, ok := w.claim(other); ok {
		t.Fatal("a refused or repeated request must claim no nonce")
	}
	w.Applied(7, &fsm.SignRequested{}, fsm.Result{Sign: s})
	if _, ok := w.nonces["f-1"]; ok {
		t.Fatal("the consumed commitment's nonce must leave the pool")
	}
	if _, ok := w.claim(s); !ok {
		t.Fatal("the attempt that consumed the commitment must find its nonce")
	}
	if _, ok := w.claim(s); ok {
		t.Fatal("a nonce must be claimed once")
	}
	if _, ok := w.nonces["f-2"]; !ok || w.count(frostSlot{}) != 1 {
		t.Fatal("a commitment no accepted request named stays in the pool")
	}
	if got := w.dispatched.Load(); got != 7 {
		t.Fatalf("dispatched = %d, want 7", got)
	}
}
