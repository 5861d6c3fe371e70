package workload

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// The plan must put signs where the expiry check can decide: some surely
// before the expiry, whatever the margins, and some surely after.
func TestSignMomentsStraddleTheExpiry(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	issued := int64(10 * time.Second)
	for range 200 {
		ttl := expiryMinTTL + time.Duration(rnd.Int64N(int64(expiryMaxTTL-expiryMinTTL)))
		due := signMoments(rnd, issued, ttl)
		if !slices.IsSorted(due) {
			t.Fatalf("moments out of order: %v", due)
		}
		var before, after int
		for _, at := range due {
			switch d := time.Duration(at - issued); {
			case d < 0:
				t.Fatalf("a sign planned before the issue returned: %v", d)
			case d <= ttl-beforeMargin:
				before++
			case d >= ttl+afterMargin:
				after++
			}
		}
		if before != 3 || after != 2 || len(due) != 6 {
			t.Fatalf("ttl %v: %d signs, %d surely before and %d surely after the expiry", ttl, len(due), before, after)
		}
	}
}

func TestExpiryClientsLeaveTheMixMostClients(t *testing.T) {
	for clients, want := range map[int]int{1: 0, 2: 1, 6: 1, 8: 2, 16: 4} {
		if got := ExpiryClients(clients); got != want {
			t.Errorf("ExpiryClients(%d) = %d, want %d", clients, got, want)
		}
	}
}
