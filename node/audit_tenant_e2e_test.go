package node_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

const auditTenantPolicy = `
tenants: [acme, globex]
principals:
  alice: {roles: [{role: key-admin, tenant: acme}]}
  carol: {roles: [{role: auditor, tenant: acme}]}
  bob:   {roles: [{role: signer, tenant: acme}]}
  eve:   {roles: [{role: key-admin, tenant: globex}]}
`

// TestAuditAndStatusAreFilteredByTenant runs on real processes: an
// auditor of acme reads acme's audit records and none of globex's nor the
// cluster's own; a signer reads none; a cluster-admin reads all; the
// whole-chain export is the cluster-admin's; status shows a tenant's
// principal its own keys and not the cluster's volume of work.
func TestAuditAndStatusAreFilteredByTenant(t *testing.T) {
	c := startCluster(t, "simulator")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, p := range []string{"alice", "carol", "bob", "eve"} {
		if out, err := c.KQ(ctx, "certs", "issue", "--principal", p); err != nil {
			t.Fatalf("certs issue %s: %v %s", p, err, out)
		}
	}
	leader := leaderOf(ctx, t, c)
	applyPolicy(ctx, t, c, leader, auditTenantPolicy)
	type clients struct {
		keys  kqpb.KeyServiceClient
		audit kqpb.AuditServiceClient
		op    kqpb.OperatorServiceClient
	}
	as := func(who string) clients {
		conn, err := c.ClientAs(who, leader)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return clients{kqpb.NewKeyServiceClient(conn), kqpb.NewAuditServiceClient(conn), kqpb.NewOperatorServiceClient(conn)}
	}
	admin, alice, carol, bob, eve := as("client"), as("alice"), as("carol"), as("bob"), as("eve")
	createKey(ctx, t, alice.keys, "acme/k", kqpb.Algorithm_ED25519)
	createKey(ctx, t, eve.keys, "globex/g", kqpb.Algorithm_ED25519)

	query := func(cl clients) []*kqpb.AuditRecord {
		t.Helper()
		r, err := cl.audit.Query(ctx, &kqpb.AuditQueryRequest{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return r.Records
	}
	has := func(recs []*kqpb.AuditRecord, key string) bool {
		for _, r := range recs {
			if r.Key == key {
				return true
			}
		}
		return false
	}
	for ctx.Err() == nil && !has(query(admin), "globex/g") { // the export files trail the log a little
		time.Sleep(200 * time.Millisecond)
	}
	all := query(admin)
	if !has(all, "acme/k") || !has(all, "globex/g") || !has(all, "") {
		t.Fatalf("a cluster-admin reads %d records, missing some of acme's, globex's or the cluster's", len(all))
	}
	mine := query(carol)
	if !has(mine, "acme/k") {
		t.Fatalf("carol, auditor of acme, reads none of acme/k's %d records", len(mine))
	}
	for _, r := range mine {
		if !strings.HasPrefix(r.Key, "acme/") {
			t.Errorf("carol reads record %d of key %q (op %s)", r.Seq, r.Key, r.Op)
		}
	}
	if recs := query(bob); len(recs) != 0 {
		t.Errorf("bob, a signer, reads %d audit records", len(recs))
	}
	if recs := query(eve); has(recs, "acme/k") || !has(recs, "globex/g") {
		t.Errorf("eve reads acme's records or not globex's")
	}
	stream, err := carol.audit.Export(ctx, &kqpb.AuditExportRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("carol exports the chain: %v", err)
	}
	stream, err = admin.audit.Export(ctx, &kqpb.AuditExportRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	if err != nil && err != io.EOF {
		t.Errorf("a cluster-admin's export: %v", err)
	}
	st, err := carol.op.Status(ctx, &kqpb.StatusRequest{})
	if err != nil || st.Keys != 1 || st.Handles != 0 || st.SignRecords != 0 {
		t.Errorf("carol's status: %v keys, %v handles, %v sign records (%v); want acme's one key and no volume", st.GetKeys(), st.GetHandles(), st.GetSignRecords(), err)
	}
	if st, err := admin.op.Status(ctx, &kqpb.StatusRequest{}); err != nil || st.Keys != 2 {
		t.Errorf("admin's status: %v keys (%v), want 2", st.GetKeys(), err)
	}
}
