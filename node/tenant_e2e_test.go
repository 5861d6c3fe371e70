package node_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/handle"
	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/node/nodetest"
	"github.com/keyquorum/keyquorum/node/pki"
)

const tenantPolicy = `
tenants: [acme, globex]
principals:
  alice: {roles: [{role: key-admin, tenant: acme}, {role: issuer, tenant: acme}]}
  bob:   {roles: [{role: signer, tenant: acme}]}
  eve:   {roles: [{role: key-admin, tenant: globex}, {role: issuer, tenant: globex}]}
`

// TestTenantMisuseMatrix: every enforced RPC by a
// principal with the role on the key's tenant, with another role there,
// with roles only on another tenant, and with no role at all, each with
// its exact code and no state change; then revoking a principal refuses
// its next call at once.
func TestTenantMisuseMatrix(t *testing.T) {
	c := startInProcess(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, p := range []string{"alice", "bob", "eve", "dave"} {
		if _, err := pki.IssuePrincipal(c.Config().CertsDir(), c.Config(), p, 24*time.Hour); err != nil {
			t.Fatalf("issue a certificate for %s: %v", p, err)
		}
	}
	leader := leaderOf(ctx, t, c)
	as := func(who string) (kqpb.KeyServiceClient, kqpb.PolicyServiceClient) {
		name := who
		if who == "admin" {
			name = "client"
		}
		conn, err := c.ClientAs(name, leader)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return kqpb.NewKeyServiceClient(conn), kqpb.NewPolicyServiceClient(conn)
	}
	_, adminPol := as("admin")
	for { // a fresh cluster reaches protocol 2 a few seconds after start
		_, err := adminPol.ApplyPolicy(ctx, &kqpb.ApplyPolicyRequest{Document: []byte(tenantPolicy)})
		if err == nil {
			break
		}
		if ctx.Err() != nil || status.Code(err) == codes.Unimplemented {
			t.Fatalf("apply policy: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	alice, _ := as("alice")
	if _, err := alice.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "acme/k", Algorithm: kqpb.Algorithm_ED25519, RequestId: "create-acme-k"}); err != nil {
		t.Fatalf("alice creates acme/k: %v", err)
	}
	type call struct {
		rpc string
		do  func(kqpb.KeyServiceClient, string) error
	}
	calls := []call{
		{"CreateKey", func(k kqpb.KeyServiceClient, id string) error {
			_, err := k.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "acme/x", Algorithm: kqpb.Algorithm_ED25519, RequestId: id})
			return err
		}},
		{"GetKey", func(k kqpb.KeyServiceClient, _ string) error {
			_, err := k.GetKey(ctx, &kqpb.GetKeyRequest{Name: "acme/k"})
			return err
		}},
		{"SetKeyPolicy", func(k kqpb.KeyServiceClient, id string) error {
			_, err := k.SetKeyPolicy(ctx, &kqpb.SetKeyPolicyRequest{Key: "acme/k", RequestId: id, DeletionAllowed: new(true)})
			return err
		}},
		{"IssueHandle", func(k kqpb.KeyServiceClient, id string) error {
			_, err := k.IssueHandle(ctx, &kqpb.IssueHandleRequest{Key: "acme/k", RequestId: id, TtlMs: 60_000})
			return err
		}},
	}
	// want[who][rpc]: alice holds key-admin and issuer on acme, bob signer
	// on acme, eve roles on globex only, dave no role at all.
	want := map[string]map[string]codes.Code{
		"alice": {"CreateKey": codes.OK, "GetKey": codes.OK, "SetKeyPolicy": codes.OK, "IssueHandle": codes.OK},
		"bob":   {"CreateKey": codes.PermissionDenied, "GetKey": codes.OK, "SetKeyPolicy": codes.PermissionDenied, "IssueHandle": codes.PermissionDenied},
		"eve":   {"CreateKey": codes.PermissionDenied, "GetKey": codes.NotFound, "SetKeyPolicy": codes.NotFound, "IssueHandle": codes.NotFound},
		"dave":  {"CreateKey": codes.PermissionDenied, "GetKey": codes.NotFound, "SetKeyPolicy": codes.NotFound, "IssueHandle": codes.NotFound},
	}
	for _, who := range []string{"bob", "eve", "dave", "alice"} { // alice last: hers change state
		ks, _ := as(who)
		for _, cl := range calls {
			err := cl.do(ks, fmt.Sprintf("%s-%s", who, cl.rpc))
			if got := status.Code(err); got != want[who][cl.rpc] {
				t.Errorf("%s %s: %v, want %s", who, cl.rpc, err, want[who][cl.rpc])
			}
		}
		if who == "dave" {
			// Nothing the refused calls asked for happened.
			k, err := alice.GetKey(ctx, &kqpb.GetKeyRequest{Name: "acme/k"})
			if err != nil || k.DeletionAllowed {
				t.Fatalf("acme/k after refused calls: %+v, %v", k, err)
			}
			if _, err := alice.GetKey(ctx, &kqpb.GetKeyRequest{Name: "acme/x"}); status.Code(err) != codes.NotFound {
				t.Fatalf("acme/x exists after refused creates: %v", err)
			}
		}
	}
	eve, _ := as("eve")
	if l, err := eve.ListKeys(ctx, &kqpb.ListKeysRequest{}); err != nil || len(l.Keys) != 0 {
		t.Fatalf("eve lists %v (%v); want none of acme's keys", l, err)
	}
	alice = revokeBySerial(ctx, t, c, leader, alice, adminPol)
	if _, err := adminPol.RevokePrincipal(ctx, &kqpb.RevokePrincipalRequest{Principal: "alice"}); err != nil {
		t.Fatal(err)
	}
	_, err := alice.IssueHandle(ctx, &kqpb.IssueHandleRequest{Key: "acme/k", RequestId: "after-revoke", TtlMs: 60_000})
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("alice issues a handle after her revocation returned: %v", err)
	}
}

// revokeBySerial revokes alice's certificate by its serial, all calls
// through a follower (forwarded to the leader): a handle alice issued with
// it, before, signs no more (the serial travelled with the forwarded issue
// into its entry, and the sign's entry is refused for it), her calls with
// it are refused, and a new certificate of hers works. It returns alice's
// client with the new certificate.
func revokeBySerial(ctx context.Context, t *testing.T, c *nodetest.Cluster, leader string, alice kqpb.KeyServiceClient,
	adminPol kqpb.PolicyServiceClient) kqpb.KeyServiceClient {
	t.Helper()
	follower := c.IDs()[0]
	if follower == leader {
		follower = c.IDs()[1]
	}
	as := func(who string) kqpb.KeyServiceClient {
		conn, err := c.ClientAs(who, follower)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return kqpb.NewKeyServiceClient(conn)
	}
	aliceF, bobF := as("alice"), as("bob")
	tok, err := handle.New()
	if err != nil {
		t.Fatal(err)
	}
	proof := tok.Proof()
	if _, err := aliceF.IssueHandle(ctx, &kqpb.IssueHandleRequest{Key: "acme/k", RequestId: "serial-h", TtlMs: 600_000,
		HandleId: tok.ID(), TokenProof: proof[:]}); err != nil {
		t.Fatalf("alice issues a handle through %s: %v", follower, err)
	}
	sign := func(id string) error {
		d := make([]byte, 32)
		d[0] = byte(len(id))
		d[1] = id[len(id)-1]
		_, err := bobF.Sign(ctx, &kqpb.SignRequest{Key: "acme/k", Digest: d, RequestId: id, Handle: tok.Bearer()})
		return err
	}
	if err := sign("serial-s1"); err != nil {
		t.Fatalf("bob signs with alice's handle: %v", err)
	}
	certPath := filepath.Join(c.Config().CertsDir(), "alice.pem")
	data, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	serial := fmt.Sprintf("%X", cert.SerialNumber) // upper case, as openssl prints it
	if _, err := adminPol.RevokePrincipal(ctx, &kqpb.RevokePrincipalRequest{Serial: serial}); err != nil {
		t.Fatalf("revoke alice's certificate %s: %v", serial, err)
	}
	if _, err := adminPol.RevokePrincipal(ctx, &kqpb.RevokePrincipalRequest{Principal: "alice", Serial: serial}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("revoke naming a principal and a serial: %v, want INVALID_ARGUMENT", err)
	}
	if err := sign("serial-s2"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("sign with a handle issued by the revoked certificate: %v, want PERMISSION_DENIED", err)
	}
	for _, cl := range []kqpb.KeyServiceClient{aliceF, alice} {
		if _, err := cl.GetKey(ctx, &kqpb.GetKeyRequest{Name: "acme/k"}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("alice reads with the revoked certificate: %v, want PERMISSION_DENIED", err)
		}
	}
	for _, f := range []string{certPath, filepath.Join(c.Config().CertsDir(), "alice.key")} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pki.IssuePrincipal(c.Config().CertsDir(), c.Config(), "alice", 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	renewed := as("alice")
	if _, err := renewed.IssueHandle(ctx, &kqpb.IssueHandleRequest{Key: "acme/k", RequestId: "serial-h2", TtlMs: 60_000}); err != nil {
		t.Fatalf("alice's new certificate: %v", err)
	}
	return renewed
}

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
