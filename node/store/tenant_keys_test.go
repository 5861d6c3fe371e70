package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/sealing"
	"github.com/keyquorum/keyquorum/sealing/sealingtest"
)

// TestTenantKeysAreACryptoBoundary: a tenant's share opens only under its
// own tenant's key (a blob moved to another tenant's directory fails with
// a binding error); the default tenant's shares stay under the KEK; once
// the tenant's generation is deleted and its key shredded, its shares do
// not open, not even with the old key file restored from a backup (the
// tenant now looks for its next generation's key); a re-created tenant
// gets a new key.
func TestTenantKeysAreACryptoBoundary(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var mu sync.Mutex
	gens := map[string]uint32{}
	gen := func(tenant string) uint32 { mu.Lock(); defer mu.Unlock(); return gens[tenant] }
	kek := sealingtest.New(t)
	s := NewShares(dir, "kq-test", "node-a", kek, NewTenantKeys(dir, "kq-test", "node-a", kek, gen))
	s.idle = time.Hour
	sh := fixtureShare(t)
	for _, key := range []string{"acme/k", "globex/k", "plain"} {
		if err := s.Put(ctx, key, 1, 0, sh); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
	}
	fresh := func() *Shares { // a restarted node: nothing cached
		return NewShares(dir, "kq-test", "node-a", kek, NewTenantKeys(dir, "kq-test", "node-a", kek, gen))
	}
	r := fresh()
	for _, key := range []string{"acme/k", "globex/k", "plain"} {
		if _, err := r.Get(ctx, key, 1, 0); err != nil {
			t.Fatalf("get %s after a restart: %v", key, err)
		}
	}
	// The default tenant's blob is bound to no tenant, under the KEK.
	blob, _ := sealing.ReadFile(s.path("plain", 1, 0))
	if _, err := kek.Open(ctx, s.binding("plain", 1, 0), blob); err != nil {
		t.Errorf("the default tenant's share does not open under the KEK: %v", err)
	}
	// acme's blob moved over globex's does not open there, and not under the KEK.
	acme, _ := os.ReadFile(s.path("acme/k", 1, 0))
	if _, err := kek.Open(ctx, s.binding("acme/k", 1, 0), acme); !errors.Is(err, sealing.ErrBindingMismatch) {
		t.Errorf("acme's share opened under the KEK alone: %v", err)
	}
	if err := os.WriteFile(s.path("globex/k", 1, 0), acme, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh().Get(ctx, "globex/k", 1, 0); !errors.Is(err, sealing.ErrBindingMismatch) {
		t.Errorf("acme's share opened as globex's: %v", err)
	}
	// A backup of acme's key file, taken before the deletion.
	held, err := s.tenants.Held()
	if err != nil || len(held) != 2 {
		t.Fatalf("held tenant keys %v, %v; want acme's and globex's", held, err)
	}
	keyFile := s.tenants.path(TenantGen{"acme", 0})
	backup, _ := os.ReadFile(keyFile)

	mu.Lock()
	gens["acme"] = 1 // the tenant was deleted
	mu.Unlock()
	if err := s.tenants.Shred(TenantGen{"acme", 0}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("acme's key file after shredding: %v", err)
	}
	if _, err := fresh().Get(ctx, "acme/k", 1, 0); !errors.Is(err, ErrTenantKeyGone) {
		t.Errorf("acme's share after its key was shredded: %v", err)
	}
	// The old generation's key, restored from a backup, is not the one
	// the tenant's blobs are looked up under any more.
	if err := os.WriteFile(keyFile, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fresh().Get(ctx, "acme/k", 1, 0); err == nil {
		t.Error("acme's old share opened at the new generation")
	}
	os.Remove(keyFile)
	// Re-created, acme seals under a new key; globex is untouched.
	if err := s.Put(ctx, "acme/k2", 1, 0, sh); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tenants", "acme", "g1.key.sealed")); err != nil {
		t.Errorf("the re-created tenant's key: %v", err)
	}
	if _, err := fresh().Get(ctx, "acme/k2", 1, 0); err != nil {
		t.Errorf("the re-created tenant's share: %v", err)
	}
}
