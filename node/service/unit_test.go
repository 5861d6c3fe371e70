package service

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/handle"
	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/tss"
)

func TestErrorsMapToPreciseCodes(t *testing.T) {
	cases := map[error]codes.Code{
		fsm.ErrUnknownKey:           codes.NotFound,
		fsm.ErrKeyExists:            codes.AlreadyExists,
		fsm.ErrRequestConflict:      codes.AlreadyExists,
		fsm.ErrHandleExists:         codes.AlreadyExists,
		fsm.ErrInvalidCommand:       codes.InvalidArgument,
		fsm.ErrKeyNotActive:         codes.FailedPrecondition,
		fsm.ErrPreParamsNotReady:    codes.FailedPrecondition,
		fsm.ErrTooManyPending:       codes.ResourceExhausted,
		consensus.ErrNotLeader:      codes.Unavailable,
		consensus.ErrLeadershipLost: codes.Unavailable,
		ErrTooFewMembers:            codes.Unavailable,
		context.DeadlineExceeded:    codes.DeadlineExceeded,
		tss.ErrBusy:                 codes.ResourceExhausted,
		fsm.ErrUnknownVersion:       codes.NotFound,
		fsm.ErrHandleDenied:         codes.PermissionDenied,
		fsm.ErrVersionUnusable:      codes.FailedPrecondition,
		fsm.ErrBadTransition:        codes.FailedPrecondition,
		fsm.ErrTooManyHandles:       codes.ResourceExhausted,
	}
	for err, want := range cases {
		wrapped := fmt.Errorf("layer: %w", err)
		if got := status.Code(ToStatus(wrapped)); got != want {
			t.Errorf("%v: got %v, want %v", err, got, want)
		}
	}
	if ToStatus(nil) != nil {
		t.Fatal("ToStatus(nil) is not nil")
	}
	already := status.Error(codes.PermissionDenied, "x")
	if ToStatus(already) != already {
		t.Fatal("a status error must pass through unchanged")
	}
}

func TestRequestIDsAreBoundedOrGenerated(t *testing.T) {
	if id, err := requestID("abc"); err != nil || id != "abc" {
		t.Fatalf("requestID(abc) = %q, %v", id, err)
	}
	a, _ := requestID("")
	b, _ := requestID("")
	if a == "" || a == b {
		t.Fatalf("generated ids %q and %q", a, b)
	}
	if _, err := requestID(string(make([]byte, maxRequestIDLen+1))); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("long id: %v", err)
	}
}

// The token a node makes goes back to the caller whole: it parses, and its
// proof is the one the log will hold. A client-made token's id and proof
// pass through; half of one is refused.
func TestHandleToIssue(t *testing.T) {
	id, proof, token, err := handleToIssue(&kqpb.IssueHandleRequest{Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := handle.Parse(token)
	if err != nil || tok.ID() != id || handle.Proof(token) != proof {
		t.Fatalf("node-made token %q (id %s) does not parse to its id and proof: %v", tok, id, err)
	}
	mine, err := handle.New()
	if err != nil {
		t.Fatal(err)
	}
	p := mine.Proof()
	id, proof, token, err = handleToIssue(&kqpb.IssueHandleRequest{HandleId: mine.ID(), TokenProof: p[:]})
	if err != nil || id != mine.ID() || proof != p || token != "" {
		t.Fatalf("client-made: id %s, token %q, %v", id, token, err)
	}
	if _, _, _, err := handleToIssue(&kqpb.IssueHandleRequest{HandleId: mine.ID()}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("id without proof: %v", err)
	}
}
