package node_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// TestTenantDeleteShredsItsKeyOnEveryNode runs on real processes and the
// kq CLI: a tenant's shares are sealed under its own key on every member;
// `kq tenant delete` is refused while a version lives, and once the
// tenant's keys are destroyed it has every node shred the tenant's key and
// report it, while another tenant's key and signatures are untouched.
func TestTenantDeleteShredsItsKeyOnEveryNode(t *testing.T) {
	c := startCluster(t, "simulator", func(o *cluster.Options) { o.ExtraConfig = "lifecycle:\n  destroy_pending: 2s\n" })
	cl, err := c.Client("n2")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	kq := func(args ...string) ([]byte, error) { return c.KQ(ctx, args...) }
	// Tenants are protocol 2 entries: a fresh cluster raises its
	// protocol a few seconds after start.
	waitProtocol(ctx, t, c, fsm.ProtocolV2, time.Minute)
	for _, tenant := range []string{"globex", "acme"} {
		retryUnavailable(ctx, t, "tenant create "+tenant, func() error { _, err := kq("tenant", "create", tenant); return err })
	}
	createKey(ctx, t, cl, "acme/a", kqpb.Algorithm_ED25519)
	if _, err := cl.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "globex/k", Algorithm: kqpb.Algorithm_ED25519, RequestId: "create-globex-k", DeletionAllowed: true}); err != nil {
		t.Fatal(err)
	}
	keyFile := func(id, tenant string) string {
		return filepath.Join(c.DataDir(), id, "tenants", tenant, "g0.key.sealed")
	}
	for _, id := range c.IDs() {
		for _, tenant := range []string{"globex", "acme"} {
			if _, err := os.Stat(keyFile(id, tenant)); err != nil {
				t.Fatalf("%s holds no key of %s after sealing its share: %v", id, tenant, err)
			}
		}
	}
	if _, err := kq("tenant", "delete", "globex"); err == nil || !strings.Contains(err.Error(), "kq: FailedPrecondition:") {
		t.Fatalf("delete of a tenant whose key lives: %v", err)
	}
	for _, op := range []func() error{
		func() error {
			_, err := cl.RevokeKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "globex/k", Version: 1, RequestId: "revoke-g"})
			return err
		},
		func() error {
			_, err := cl.DestroyKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "globex/k", Version: 1, RequestId: "destroy-g"})
			return err
		},
	} {
		retryUnavailable(ctx, t, "destroy globex/k", op)
	}
	for ctx.Err() == nil {
		k := getKey(ctx, t, cl, "globex/k")
		if v := versionOf(t, k, 1); v.Destroyed && len(v.SharesDestroyed) == 3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	out, err := kq("tenant", "delete", "globex", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var del struct {
		Note   string `json:"note"`
		Tenant struct {
			Deleted  bool     `json:"deleted"`
			Shredded []string `json:"shredded"`
		} `json:"tenant"`
		Pending []string `json:"pending_shred"`
	}
	if err := json.Unmarshal(out, &del); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !del.Tenant.Deleted || !slices.Equal(del.Tenant.Shredded, c.IDs()) || len(del.Pending) != 0 || !strings.Contains(del.Note, "tenant globex deleted") {
		t.Fatalf("tenant delete: %s", out)
	}
	for _, id := range c.IDs() {
		if _, err := os.Stat(keyFile(id, "globex")); !os.IsNotExist(err) {
			t.Errorf("%s still holds globex's key: %v", id, err)
		}
		if _, err := os.Stat(keyFile(id, "acme")); err != nil {
			t.Errorf("%s lost acme's key: %v", id, err)
		}
	}
	out, err = kq("tenant", "list", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	type tenantRow struct {
		Name       string `json:"name"`
		Listed     bool   `json:"listed"`
		Deleted    bool   `json:"deleted"`
		Generation uint32 `json:"generation"`
	}
	var list struct {
		Tenants []tenantRow `json:"tenants"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(list.Tenants, func(r tenantRow) bool { return r.Name == "globex" })
	if i < 0 || list.Tenants[i].Listed || !list.Tenants[i].Deleted || list.Tenants[i].Generation != 1 {
		t.Errorf("tenant list: %s", out)
	}
	// acme signs on.
	h := issueHandle(ctx, t, cl, &kqpb.IssueHandleRequest{Key: "acme/a", TtlMs: 60_000})
	d := sha256.Sum256([]byte("after globex"))
	signEventually(ctx, t, cl, &kqpb.SignRequest{Handle: h, Digest: d[:], RequestId: "acme-after"})
}
