package service

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/consensus/policy"
)

// TestRateBucketsRefillAndRefuseAsAWhole: a bucket holds one second's
// worth, refills at its rate, says how long until the next token, and a
// request refused by one bucket takes nothing from the others.
func TestRateBucketsRefillAndRefuseAsAWhole(t *testing.T) {
	rb := newRateBuckets()
	t0 := time.Unix(1000, 0)
	names := []string{"tenant/acme", "principal/bob"}
	for i := range 4 {
		if got, _ := rb.take(t0, names, []int{10, 4}); got != -1 {
			t.Fatalf("take %d within bob's burst of 4: refused by %d", i, got)
		}
	}
	got, wait := rb.take(t0, names, []int{10, 4})
	if got != 1 || wait != 250*time.Millisecond {
		t.Fatalf("fifth take: bucket %d, wait %v; want bob's (1) and 250ms", got, wait)
	}
	// Bob's refusals cost acme nothing: acme has 6 of 10 left.
	for i := range 6 {
		if got, _ := rb.take(t0, []string{"tenant/acme", "principal/carl"}, []int{10, 0}); got != -1 {
			t.Fatalf("carl's take %d: refused by %d; acme still has tokens", i, got)
		}
	}
	if got, wait := rb.take(t0, []string{"tenant/acme"}, []int{10}); got != 0 || wait != 100*time.Millisecond {
		t.Fatalf("acme emptied: bucket %d, wait %v; want 0 and 100ms", got, wait)
	}
	if got, _ := rb.take(t0.Add(100*time.Millisecond), []string{"tenant/acme"}, []int{10}); got != -1 {
		t.Fatal("acme refused a token 100ms later at 10/s")
	}
	// A long idle period refills to one second's worth, not more.
	later := t0.Add(time.Hour)
	for i := range 10 {
		if got, _ := rb.take(later, []string{"tenant/acme"}, []int{10}); got != -1 {
			t.Fatalf("take %d after an hour: refused", i)
		}
	}
	if got, _ := rb.take(later, []string{"tenant/acme"}, []int{10}); got != 0 {
		t.Fatal("the bucket held more than one second's worth")
	}
	// Unbounded names never refuse and hold no bucket.
	for range 100 {
		if got, _ := rb.take(t0, []string{"tenant/free"}, []int{0}); got != -1 {
			t.Fatal("an unbounded tenant was refused")
		}
	}
	if _, ok := rb.b["tenant/free"]; ok {
		t.Error("a bucket was kept for an unbounded tenant")
	}
}

func TestQuotaStatusNamesTheQuotaAndTheWait(t *testing.T) {
	err := ToStatus(errors.Join(errors.New("context"), policy.NewQuotaExceeded("tenant", "acme", policy.QuotaSignPerSecond, 5, 120*time.Millisecond)))
	s, _ := status.FromError(err)
	if s.Code() != codes.ResourceExhausted {
		t.Fatalf("code %v, want ResourceExhausted", s.Code())
	}
	var retry *errdetails.RetryInfo
	var qf *errdetails.QuotaFailure
	for _, d := range s.Details() {
		switch d := d.(type) {
		case *errdetails.RetryInfo:
			retry = d
		case *errdetails.QuotaFailure:
			qf = d
		}
	}
	if retry == nil || retry.RetryDelay.AsDuration() != 120*time.Millisecond {
		t.Errorf("retry info %v, want 120ms", retry)
	}
	if qf == nil || qf.Violations[0].Subject != "tenant:acme" || qf.Violations[0].Description != "sign_per_second" {
		t.Errorf("quota failure %v", qf)
	}
	if got := admissionReason(err); got != policy.QuotaSignPerSecond {
		t.Errorf("admissionReason = %q", got)
	}
	// A count quota has nothing to wait for: no retry info.
	s, _ = status.FromError(ToStatus(policy.NewQuotaExceeded("tenant", "acme", policy.QuotaKeys, 5, 0)))
	for _, d := range s.Details() {
		if _, ok := d.(*errdetails.RetryInfo); ok {
			t.Error("a keys quota refusal carries a retry hint")
		}
	}
	if admissionReason(status.Error(codes.ResourceExhausted, "busy")) != "" {
		t.Error("a plain RESOURCE_EXHAUSTED counted as an admission rejection")
	}
}
