package node_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// ceremonyJSON is the `kq ceremony propose|approve|show -o json` contract.
type ceremonyJSON struct {
	ID        string `json:"id"`
	Kind      string `json:"kind"`
	Digest    string `json:"digest"`
	State     string `json:"state"`
	Approvals int    `json:"approvals"`
	Quorum    int    `json:"quorum"`
	ExpiresAt string `json:"expires_at"`
	Summary   string `json:"summary"`
	Note      string `json:"note"`
}

// ceremonyCluster starts a cluster from binDir (with bugs, if any), issues
// certificates for the operators alice, bob and carol and the key-admin
// kadmin, makes each operator an approval key with kq operator keygen, and
// applies a policy listing them (quorum 2). It returns the key files.
func ceremonyCluster(t *testing.T, binDir, bugs string) (*cluster.Cluster, map[string]string, string) {
	t.Helper()
	c := startCluster(t, "simulator", func(o *cluster.Options) { o.BinDir, o.Bugs = binDir, bugs })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	keys := map[string]string{}
	var ops strings.Builder
	for _, who := range []string{"alice", "bob", "carol", "kadmin"} {
		if out, err := c.KQ(ctx, "certs", "issue", "--principal", who); err != nil {
			t.Fatalf("certs issue %s: %v %s", who, err, out)
		}
		if who == "kadmin" {
			continue
		}
		keys[who] = filepath.Join(dir, who+".key")
		var k struct {
			PublicKey string `json:"public_key"`
		}
		kqJSON(t, c, &k, "operator", "keygen", "--out", keys[who])
		if fi, err := os.Stat(keys[who]); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s's key file: %v %v, want mode 0600", who, fi.Mode(), err)
		}
		fmt.Fprintf(&ops, "  %s: {public_key: %q}\n", who, k.PublicKey)
	}
	policy := "principals:\n  kadmin: {roles: [{role: key-admin, tenant: default}]}\noperators:\n" + ops.String() +
		"ceremonies: {default_quorum: 2}\n"
	conn, err := c.ClientAs("client", leaderOf(ctx, t, c))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for { // a fresh cluster reaches protocol 2 a few seconds after start
		_, err := kqpb.NewPolicyServiceClient(conn).ApplyPolicy(ctx, &kqpb.ApplyPolicyRequest{Document: []byte(policy)})
		if err == nil {
			break
		}
		if ctx.Err() != nil || status.Code(err) == codes.Unimplemented || status.Code(err) == codes.InvalidArgument {
			t.Fatalf("apply the operators' policy: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	return c, keys, policy
}

// TestCeremonyOnRealProcesses: three operators, quorum 2, on three kqd
// processes. The direct destroy is refused; the proposer's approval plus
// one other does not execute; a replayed approval from another ceremony, a
// signature over a tampered digest, an expired ceremony and an unknown key
// each fail with their code and change nothing; the second counted
// approval destroys. A policy change by ceremony, proposed with its diff,
// lands at the executing entry on every node, whose audit exports each
// verify the ceremony offline with kq ceremony verify. Freeze is instant,
// unfreeze a ceremony.
func TestCeremonyOnRealProcesses(t *testing.T) {
	c, keys, policy := ceremonyCluster(t, binDir, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	grpcAs := func(who string) kqpb.CeremonyServiceClient {
		conn, err := c.ClientAs(who, leaderOf(ctx, t, c))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return kqpb.NewCeremonyServiceClient(conn)
	}
	kconn, err := c.ClientAs("kadmin", leaderOf(ctx, t, c))
	if err != nil {
		t.Fatal(err)
	}
	defer kconn.Close()
	kadmin := kqpb.NewKeyServiceClient(kconn)
	if _, err := kadmin.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "doomed", Algorithm: kqpb.Algorithm_ED25519, RequestId: "create-doomed", DeletionAllowed: true}); err != nil {
		t.Fatal(err)
	}
	for ctx.Err() == nil {
		if _, err := kadmin.RetireKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "doomed", Version: 1, RequestId: "retire-doomed"}); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond) // until the key is active
	}
	// The key of the threshold ceremony below, generated meanwhile.
	if _, err := kadmin.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "wide", Algorithm: kqpb.Algorithm_ED25519, RequestId: "create-wide"}); err != nil {
		t.Fatal(err)
	}
	_, err = kadmin.DestroyKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "doomed", Version: 1, RequestId: "direct-destroy"})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "ceremony") {
		t.Fatalf("direct destroy with operators listed: %v, want PERMISSION_DENIED naming the ceremony", err)
	}
	notScheduled := func(when string) {
		t.Helper()
		k, err := kadmin.GetKey(ctx, &kqpb.GetKeyRequest{Name: "doomed"})
		if err != nil || k.Versions[0].DestroyAtUnixNano != 0 {
			t.Fatalf("%s: doomed v1 %+v, %v; want no destruction scheduled", when, k.GetVersions(), err)
		}
	}

	var cer, other ceremonyJSON
	kqJSON(t, c, &cer, "--as", "alice", "ceremony", "propose", "key-destroy", "--key", "doomed", "--version", "1", "--delay", "1s")
	if cer.ID == "" || cer.Kind != "key-destroy" || len(cer.Digest) != 64 || cer.State != "pending" || cer.Approvals != 0 || cer.Quorum != 2 || cer.ExpiresAt == "" {
		t.Fatalf("propose printed %+v", cer)
	}
	kqJSON(t, c, &other, "--as", "alice", "ceremony", "propose", "key-destroy", "--key", "doomed", "--version", "1", "--delay", "1s")
	approve := func(who, id string) ceremonyJSON {
		t.Helper()
		var out ceremonyJSON
		kqJSON(t, c, &out, "--as", who, "ceremony", "approve", id, "--key", keys[who], "--yes")
		return out
	}
	if got := approve("alice", cer.ID); got.Approvals != 0 || got.State != "pending" {
		t.Fatalf("the proposer's approval: %+v, want recorded and not counted", got)
	}
	if got := approve("bob", cer.ID); got.Approvals != 1 || got.State != "pending" {
		t.Fatalf("bob's approval: %+v", got)
	}
	notScheduled("the proposer's approval and one other")

	carol := readKeyFile(t, keys["carol"])
	signDigest := func(priv ed25519.PrivateKey, digestHex string) string {
		d, _ := hex.DecodeString(digestHex)
		return hex.EncodeToString(ed25519.Sign(priv, d))
	}
	carolPub := formatPub(carol)
	cs := grpcAs("carol")
	tampered := []byte(cer.Digest)
	tampered[0] ^= 1 // a digest of something else
	var expiring ceremonyJSON
	kqJSON(t, c, &expiring, "--as", "alice", "ceremony", "propose", "key-destroy", "--key", "doomed", "--version", "1", "--ttl", "1s")
	time.Sleep(1500 * time.Millisecond)
	_, stranger, _ := ed25519.GenerateKey(rand.Reader)
	bob := readKeyFile(t, keys["bob"])
	for _, tc := range []struct {
		name string
		req  *kqpb.ApproveCeremonyRequest
		want codes.Code
	}{
		{"replayed from another ceremony", &kqpb.ApproveCeremonyRequest{Id: cer.ID, PublicKey: carolPub, Signature: signDigest(carol, other.Digest)}, codes.InvalidArgument},
		{"over a tampered digest", &kqpb.ApproveCeremonyRequest{Id: cer.ID, PublicKey: carolPub, Signature: signDigest(carol, string(tampered))}, codes.InvalidArgument},
		{"an unknown key", &kqpb.ApproveCeremonyRequest{Id: cer.ID, PublicKey: formatPub(stranger), Signature: signDigest(stranger, cer.Digest)}, codes.PermissionDenied},
		{"bob twice", &kqpb.ApproveCeremonyRequest{Id: cer.ID, PublicKey: formatPub(bob), Signature: signDigest(bob, cer.Digest)}, codes.AlreadyExists},
		{"an expired ceremony", &kqpb.ApproveCeremonyRequest{Id: expiring.ID, PublicKey: carolPub, Signature: signDigest(carol, expiring.Digest)}, codes.FailedPrecondition},
		{"an unknown ceremony", &kqpb.ApproveCeremonyRequest{Id: "cer-999999", PublicKey: carolPub, Signature: signDigest(carol, cer.Digest)}, codes.NotFound},
	} {
		if _, err := cs.ApproveCeremony(ctx, tc.req); status.Code(err) != tc.want {
			t.Errorf("approval %s: %v, want %s", tc.name, err, tc.want)
		}
	}
	var shown ceremonyJSON
	kqJSON(t, c, &shown, "--as", "carol", "ceremony", "show", cer.ID)
	if shown.Approvals != 1 || shown.State != "pending" {
		t.Fatalf("after the refused approvals: %+v", shown)
	}
	kqJSON(t, c, &shown, "--as", "carol", "ceremony", "show", expiring.ID)
	if shown.State != "expired" {
		t.Fatalf("expiring ceremony %+v", shown)
	}
	notScheduled("refused approvals")

	if got := approve("carol", cer.ID); got.State != "executed" || got.Approvals != 2 {
		t.Fatalf("the quorum's approval: %+v", got)
	}
	k, err := kadmin.GetKey(ctx, &kqpb.GetKeyRequest{Name: "doomed"})
	if err != nil || k.Versions[0].DestroyAtUnixNano == 0 {
		t.Fatalf("after the ceremony: %+v, %v; want v1 scheduled for destruction", k.GetVersions(), err)
	}
	if _, err := cs.ApproveCeremony(ctx, &kqpb.ApproveCeremonyRequest{Id: cer.ID, PublicKey: carolPub, Signature: signDigest(carol, cer.Digest)}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("approving an executed ceremony: %v, want FAILED_PRECONDITION", err)
	}

	// A policy change: refused directly, proposed with its diff, executed
	// by two operators.
	file := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(file, []byte("tenants: [acme]\n"+policy), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := c.KQ(ctx, "policy", "apply", file); err == nil || !strings.Contains(err.Error(), "ceremony") {
		t.Fatalf("kq policy apply with operators listed: %v %s", err, out)
	}
	var pc ceremonyJSON
	kqJSON(t, c, &pc, "ceremony", "propose", "policy-change", "--file", file) // by admin: every operator counts
	if !strings.Contains(pc.Summary, "tenants +acme") {
		t.Fatalf("policy change proposal %+v does not show the diff", pc)
	}
	approve("bob", pc.ID)
	if got := approve("carol", pc.ID); got.State != "executed" || !strings.Contains(got.Note, "policy v1 -> v2") {
		t.Fatalf("policy change: %+v", got)
	}

	// Freeze at once; unfreeze only by ceremony.
	var fz struct {
		Frozen bool `json:"frozen"`
	}
	kqJSON(t, c, &fz, "freeze", "--reason", "drill")
	if !fz.Frozen {
		t.Fatal("kq freeze: not frozen")
	}
	if out, err := c.KQ(ctx, "unfreeze"); err == nil || !strings.Contains(err.Error(), "ceremony") {
		t.Fatalf("direct unfreeze with operators: %v %s", err, out)
	}
	var uf ceremonyJSON
	kqJSON(t, c, &uf, "ceremony", "propose", "unfreeze")
	approve("alice", uf.ID)
	approve("bob", uf.ID)
	kqJSON(t, c, &fz, "freeze", "status")
	if fz.Frozen {
		t.Fatal("still frozen after the unfreeze ceremony")
	}

	// A threshold change and a membership change are ceremonies too: the
	// direct requests are refused naming the kind; two approvals reshare
	// wide to threshold 2.
	for _, direct := range [][]string{{"--as", "kadmin", "key", "reshare", "wide", "--threshold", "2"}, {"node", "remove", c.IDs()[2]}} {
		out, err := c.KQ(ctx, direct...)
		if err == nil || !strings.Contains(err.Error(), "PermissionDenied") && !strings.Contains(err.Error(), "permission denied") ||
			!strings.Contains(err.Error(), "kind threshold") && !strings.Contains(err.Error(), "kind membership") {
			t.Fatalf("kq %v with operators listed: %v %s, want PERMISSION_DENIED naming the kind", direct, err, out)
		}
	}
	var th ceremonyJSON
	for ctx.Err() == nil { // the key must be active before its threshold changes
		if out, err := c.KQ(ctx, "ceremony", "propose", "threshold", "--key", "wide", "--threshold", "2", "-o", "json"); err == nil {
			if err := json.Unmarshal(out, &th); err != nil {
				t.Fatal(err)
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(th.Summary, "threshold 1 -> 2") {
		t.Fatalf("threshold proposal %+v", th)
	}
	approve("alice", th.ID)
	if got := approve("bob", th.ID); got.State != "executed" {
		t.Fatalf("threshold ceremony: %+v", got)
	}
	for {
		k, err := kadmin.GetKey(ctx, &kqpb.GetKeyRequest{Name: "wide"})
		if err == nil && k.Threshold == 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("wide never reached threshold 2: %+v, %v", k, err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Every node applied the policy change at the same entry; each node's
	// export verifies both ceremonies offline.
	dir := t.TempDir()
	for _, id := range c.IDs() {
		path := filepath.Join(dir, id+".jsonl")
		deadline := time.Now().Add(30 * time.Second)
		for {
			if out, err := c.KQ(ctx, "--node", id, "audit", "export", "--file", path); err != nil {
				t.Fatalf("export %s: %v %s", id, err, out)
			}
			if rec := executedRecord(t, path, pc.ID); rec != nil {
				if !strings.Contains(rec.Reason, "tenants +acme") {
					t.Fatalf("%s: the executing record says %q", id, rec.Reason)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never applied the policy change", id)
			}
			time.Sleep(300 * time.Millisecond)
		}
		for _, id := range []string{cer.ID, pc.ID} {
			var rep audit.CeremonyReport
			kqJSON(t, c, &rep, "ceremony", "verify", "--from-file", path, id)
			if rep.State != "executed" || rep.Counted != 2 {
				t.Fatalf("offline verify of %s: %+v", id, rep)
			}
		}
	}
}

// TestCeremonyUndercountBugIsCaught: kqd built with kqd_bugs and
// ceremony-undercount executes a ceremony at one approval of two; the
// offline check of the audit export catches it.
func TestCeremonyUndercountBugIsCaught(t *testing.T) {
	c, keys, _ := ceremonyCluster(t, bugsBinDir(t), "ceremony-undercount")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var cer, got ceremonyJSON
	kqJSON(t, c, &cer, "ceremony", "propose", "tenant-create", "--tenant", "acme")
	kqJSON(t, c, &got, "--as", "alice", "ceremony", "approve", cer.ID, "--key", keys["alice"], "--yes")
	if got.State != "executed" || got.Approvals != 1 {
		t.Fatalf("under the bug: %+v, want executed at 1 of 2", got)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	for { // the node that answers may not have written the executing record yet
		if out, err := c.KQ(ctx, "audit", "export", "--file", path); err != nil {
			t.Fatalf("export: %v %s", err, out)
		}
		if executedRecord(t, path, cer.ID) != nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("no node's export holds the executing approval")
		}
		time.Sleep(300 * time.Millisecond)
	}
	out, err := c.KQ(ctx, "ceremony", "verify", "--from-file", path, cer.ID)
	if err == nil || !strings.Contains(err.Error(), "below the quorum 2") {
		t.Fatalf("kq ceremony verify of an undercounted ceremony: %v %s", err, out)
	}
}

// executedRecord returns the record of the entry that executed ceremony
// id, from an export, or nil.
func executedRecord(t *testing.T, path, id string) *audit.Record {
	t.Helper()
	for _, r := range readChain(t, path) {
		if r.Op == audit.OpCeremonyApprove && r.Ceremony != nil && r.Ceremony.ID == id && r.Ceremony.State == audit.CeremonyExecuted {
			return &r
		}
	}
	return nil
}

func readKeyFile(t *testing.T, path string) ed25519.PrivateKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s: no PEM", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(ed25519.PrivateKey)
}

func formatPub(k ed25519.PrivateKey) string {
	return audit.FormatApprovalKey(k.Public().(ed25519.PublicKey))
}
