package sealing

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
)

// TestTenantIsBound: a blob sealed for one tenant opens for no other
// tenant, nor without one, and the associated data of a binding without
// a tenant is what it was before tenants existed.
func TestTenantIsBound(t *testing.T) {
	kek := make([]byte, KEKSize)
	rand.Read(kek)
	e, err := NewEnvelope(kek)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := Binding{ClusterID: "c", NodeID: "n1", Kind: KindShare, KeyID: "acme/k", Version: 1, Tenant: "acme"}
	blob, err := e.Seal(ctx, b, []byte("share"))
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []string{"globex", ""} {
		o := b
		o.Tenant = other
		if _, err := e.Open(ctx, o, blob); !errors.Is(err, ErrBindingMismatch) {
			t.Errorf("opened for tenant %q: %v", other, err)
		}
	}
	if pt, err := e.Open(ctx, b, blob); err != nil || string(pt) != "share" {
		t.Fatalf("open for its own tenant: %q, %v", pt, err)
	}
	plain := b
	plain.Tenant = ""
	if got, want := len(b.associatedData(formatV1)), len(plain.associatedData(formatV1))+4+len("acme"); got != want {
		t.Errorf("associated data with a tenant is %d bytes, want %d", got, want)
	}
	if err := (Binding{ClusterID: "c", NodeID: "n", Kind: KindTenantKey}).Validate(); !errors.Is(err, ErrInvalidBinding) {
		t.Errorf("a tenant key without a tenant validated: %v", err)
	}
}
