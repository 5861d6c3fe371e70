package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/client"
	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/remote"
)

func TestParseHexAndAlgorithm(t *testing.T) {
	b, err := parseHex("--digest", "0xABcd")
	if err != nil || !bytes.Equal(b, []byte{0xab, 0xcd}) {
		t.Errorf("got %x, %v", b, err)
	}
	var u usageError
	if _, err := parseHex("--digest", "xyz"); !errors.As(err, &u) {
		t.Errorf("bad hex: %v", err)
	}
	if _, err := parseHex("--digest", ""); !errors.As(err, &u) {
		t.Errorf("empty: %v", err)
	}
	if a, err := parseAlgorithm("ECDSA-secp256k1"); err != nil || a != kqpb.Algorithm_ECDSA_SECP256K1 {
		t.Errorf("got %v, %v", a, err)
	}
	if _, err := parseAlgorithm("rsa"); err == nil {
		t.Error("rsa accepted")
	}
}

func TestRetryHintOnlyWhenOutcomeUnknown(t *testing.T) {
	err := remote.WithRetryHint(status.Error(codes.DeadlineExceeded, "context deadline exceeded"), "r-9")
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "--request-id r-9") {
		t.Errorf("deadline: %v", err)
	}
	err = remote.WithRetryHint(status.Error(codes.AlreadyExists, "key exists"), "r-9")
	if strings.Contains(err.Error(), "r-9") {
		t.Errorf("definite failure got a hint: %v", err)
	}
}

func TestLifecycleFlagValues(t *testing.T) {
	var u usageError
	if ms, err := dualSignMillis(90 * time.Second); err != nil || ms != 90000 {
		t.Errorf("90s: %d, %v", ms, err)
	}
	if ms, err := dualSignMillis(0); err != nil || ms != 0 {
		t.Errorf("0: %d, %v", ms, err)
	}
	for _, d := range []time.Duration{-time.Second, maxDualSign + time.Hour, 1500 * time.Microsecond} {
		if _, err := dualSignMillis(d); !errors.As(err, &u) {
			t.Errorf("%v accepted: %v", d, err)
		}
	}
	r, err := issueRequest("k", "sign", 10*time.Minute, 2, "r")
	if want := (client.HandleRequest{Key: "k", Purpose: "sign", TTL: 10 * time.Minute, MaxUses: 2, RequestID: "r"}); err != nil || r != want {
		t.Errorf("issue: %+v, %v", r, err)
	}
	if _, err := issueRequest("k", "sign", 0, 0, "r"); !errors.As(err, &u) {
		t.Errorf("zero ttl: %v", err)
	}
	// One use within a minute, under a fresh request id (the client's).
	if r := oneShotHandleRequest("k", ""); r != (client.HandleRequest{Key: "k", Purpose: "sign", TTL: time.Minute, MaxUses: 1}) {
		t.Errorf("one-shot: %+v", r)
	}
	for run, want := range map[time.Duration]time.Duration{
		10 * time.Second: 70 * time.Second, 24 * time.Hour: 24 * time.Hour, 30 * time.Hour: 24 * time.Hour,
	} {
		if got := benchHandleTTL(run); got != want {
			t.Errorf("benchHandleTTL(%v) = %v, want %v", run, got, want)
		}
	}
}
