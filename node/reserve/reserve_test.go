package reserve

import "testing"

// TestReserveHoldsANameUntilReleased: a name is held by one proposal at a
// time, and free again once released.
func TestReserveHoldsANameUntilReleased(t *testing.T) {
	var r Set
	if !r.Reserve("p-1") || r.Reserve("p-1") || !r.Held("p-1") {
		t.Fatal("a reserved name must refuse a second reservation")
	}
	if !r.Reserve("p-2") {
		t.Fatal("another name must be free")
	}
	r.Release("p-1")
	if r.Held("p-1") || !r.Reserve("p-1") {
		t.Fatal("a released name must be free again")
	}
}
