package node_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// backupJSON is the part of the `kq backup create -o json` contract the
// drill reads.
type backupJSON struct {
	Dir      string `json:"dir"`
	Manifest struct {
		Keys     int `json:"keys"`
		Snapshot struct {
			Index uint64 `json:"index"`
		} `json:"snapshot"`
		Nodes []struct {
			ID    string `json:"id"`
			Files int    `json:"files"`
			Error string `json:"error"`
		} `json:"nodes"`
		Audit struct {
			PublicKey string `json:"public_key"`
		} `json:"audit"`
	} `json:"manifest"`
}

// TestBackupRestoreDrill is the runbook "one node's disk lost"
// (docs/OPERATIONS.md) on real processes with swtpm: a signed backup
// verifies offline; a flipped byte in it fails verification, naming the
// file; n2's data directory is deleted except its TPM state, restored
// from the backup, and n2 catches up through raft and signs in the only
// committee left (n3 down). Nothing in the backup is plaintext key
// material: it holds none of the share secrets or pre-param primes that
// each node's TPM opens.
func TestBackupRestoreDrill(t *testing.T) {
	c := startCluster(t, "swtpm")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var k keyJSON
	kqJSON(t, c, &k, "key", "create", "ed", "--algorithm", "ed25519")
	var tk keyJSON // a tenant's share, sealed under the tenant's own key
	kqJSON(t, c, &tk, "key", "create", "acme/t", "--algorithm", "ed25519")
	verify := parseVerifier(t, k)
	signOK(t, c, k, verify, []byte("before the backup"))
	pub := waitAuditKey(ctx, t, c)

	dir := filepath.Join(t.TempDir(), "backup")
	var b backupJSON
	start := time.Now()
	kqJSON(t, c, &b, "backup", "create", "--out", dir)
	t.Logf("backup create: %s", time.Since(start).Round(time.Millisecond))
	if b.Manifest.Keys < 2 || b.Manifest.Audit.PublicKey != pub || len(b.Manifest.Nodes) != 3 {
		t.Fatalf("backup manifest: %+v (audit key %s)", b.Manifest, pub)
	}
	for _, n := range b.Manifest.Nodes {
		if n.Error != "" || n.Files < 2 { // the share of ed, the pre-params, the sealed KEK
			t.Fatalf("backup of %s: %+v", n.ID, n)
		}
	}
	var v struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems"`
	}
	kqJSON(t, c, &v, "backup", "verify", dir, "--audit-public-key", pub)
	if !v.OK || len(v.Problems) != 0 {
		t.Fatalf("backup verify: %+v", v)
	}

	// A flipped byte in one sealed share fails verification, naming it.
	tampered := filepath.Join(t.TempDir(), "tampered")
	if err := os.CopyFS(tampered, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	share := filepath.Join(tampered, "nodes", "n1", "shares", "ed", "v1.sealed")
	data, err := os.ReadFile(share)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 1
	if err := os.WriteFile(share, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := c.KQ(ctx, "backup", "verify", tampered)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("verify of a tampered backup: %v, want exit 1", err)
	}
	if !strings.Contains(string(out), "nodes/n1/shares/ed/v1.sealed: SHA-256") || !strings.Contains(err.Error(), "backup does not verify") {
		t.Fatalf("verify of a tampered backup does not name the file: %s / %v", out, err)
	}

	// Entries after the backup: n2 must take them from the leader.
	signOK(t, c, k, verify, []byte("after the backup"))

	// n2's disk is lost; its TPM (swtpm state, and the node's tpm/
	// directory with the sealed KEK and its auth value) survives.
	c.Kill("n2")
	n2 := filepath.Join(c.DataDir(), "n2")
	ents, err := os.ReadDir(n2)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != "tpm" {
			if err := os.RemoveAll(filepath.Join(n2, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	restore := func() ([]byte, error) {
		return exec.CommandContext(ctx, filepath.Join(binDir, "kqd"), "restore", "--config", c.ConfigPath, "--node", "n2",
			"--from", dir, "--audit-public-key", pub).CombinedOutput()
	}
	start = time.Now()
	if out, err := restore(); err != nil {
		t.Fatalf("kqd restore: %v: %s", err, out)
	}
	t.Logf("kqd restore: %s", time.Since(start).Round(time.Millisecond))
	for _, f := range []string{"shares/ed/v1.sealed", "shares/acme/t/v1.sealed", "tenants/acme/g0.key.sealed"} {
		if _, err := os.Stat(filepath.Join(n2, f)); err != nil {
			t.Fatalf("restored %s: %v", f, err)
		}
	}
	// A second restore finds raft state and changes nothing.
	if out, err := restore(); err == nil || !bytes.Contains(out, []byte("already holds raft state")) {
		t.Fatalf("restore over raft state: %v: %s", err, out)
	}

	if err := c.StartNode("n2"); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	waitCaughtUp(ctx, t, c, "n2")
	t.Logf("n2 start to caught up: %s", time.Since(start).Round(time.Millisecond))
	// With n3 down, every committee of two is {n1, n2}.
	c.Kill("n3")
	waitReady(t, c)
	signOK(t, c, k, verify, []byte("signed by the restored n2"))

	// A backup with n3 down leaves n3 out and says so; it still verifies.
	partial := filepath.Join(t.TempDir(), "partial")
	kqJSON(t, c, &b, "backup", "create", "--out", partial)
	for _, n := range b.Manifest.Nodes {
		if (n.ID == "n3") != (n.Error != "") {
			t.Fatalf("backup with n3 down: %+v", b.Manifest.Nodes)
		}
	}
	kqJSON(t, c, &v, "backup", "verify", partial)
	if !v.OK {
		t.Fatalf("verify of the backup without n3: %+v", v)
	}

	for _, id := range []string{"n1", "n2"} {
		c.Kill(id)
	}
	var secrets [][]byte
	for _, id := range c.IDs() {
		secrets = append(secrets, nodeSecrets(ctx, t, c, id, "ed")...)
	}
	scanned := eachFile(t, dir, func(path string, data []byte) {
		for i, s := range secrets {
			if bytes.Contains(data, s) {
				t.Errorf("secret #%d (%d bytes) found in backup file %s", i, len(s), path)
			}
		}
	})
	if scanned < 9 {
		t.Fatalf("scanned only %d backup files", scanned)
	}
	t.Logf("scanned %d backup files for %d secret encodings", scanned, len(secrets))
}

// waitAuditKey waits until the cluster's audit key is active and returns
// its public key in hex.
func waitAuditKey(ctx context.Context, t *testing.T, c *cluster.Cluster) string {
	t.Helper()
	for ctx.Err() == nil {
		if a, err := c.Audit("n1"); err == nil {
			if h, err := a.Head(ctx, &kqpb.AuditHeadRequest{}); err == nil && h.AuditKeyState == "active" {
				return hex.EncodeToString(h.AuditPublicKey)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the audit key never became active")
	return ""
}

// waitCaughtUp waits until id has applied what the leader had committed
// when the wait began.
func waitCaughtUp(ctx context.Context, t *testing.T, c *cluster.Cluster, id string) {
	t.Helper()
	// Right after a kill the others may still name the killed node as
	// leader: ask again until a live leader answers.
	var want uint64
	for {
		st, err := c.Status(ctx, leaderOf(ctx, t, c))
		if err == nil {
			want = st.CommitIndex
			break
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for ctx.Err() == nil {
		if s, err := c.Status(ctx, id); err == nil && s.AppliedIndex >= want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not catch up to index %d", id, want)
}

// TestFullRestoreDrill is the case "every disk lost, every TPM intact"
// (docs/OPERATIONS.md): all three data directories are deleted except
// their TPM state and restored from one backup; the cluster elects a
// leader from the snapshot and signs with the key made before the backup,
// while a key created after it is gone. It runs with KQ_LONG=1 (make
// drills).
func TestFullRestoreDrill(t *testing.T) {
	if os.Getenv("KQ_LONG") == "" {
		t.Skip("a whole-cluster drill; set KQ_LONG=1 (make drills)")
	}
	c := startCluster(t, "swtpm")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var k keyJSON
	kqJSON(t, c, &k, "key", "create", "ed", "--algorithm", "ed25519")
	verify := parseVerifier(t, k)
	pub := waitAuditKey(ctx, t, c)
	dir := filepath.Join(t.TempDir(), "backup")
	var b backupJSON
	kqJSON(t, c, &b, "backup", "create", "--out", dir)
	var late keyJSON
	kqJSON(t, c, &late, "key", "create", "late", "--algorithm", "ed25519")

	for _, id := range c.IDs() {
		c.Kill(id)
		n := filepath.Join(c.DataDir(), id)
		ents, err := os.ReadDir(n)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name() != "tpm" {
				must(t, os.RemoveAll(filepath.Join(n, e.Name())))
			}
		}
		out, err := exec.CommandContext(ctx, filepath.Join(binDir, "kqd"), "restore", "--config", c.ConfigPath, "--node", id,
			"--from", dir, "--audit-public-key", pub).CombinedOutput()
		if err != nil {
			t.Fatalf("kqd restore %s: %v: %s", id, err, out)
		}
	}
	for _, id := range c.IDs() {
		if err := c.StartNode(id); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, c)
	signOK(t, c, k, verify, []byte("after restoring every node"))
	out, err := c.KQ(ctx, "key", "get", "late")
	if err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Fatalf("a key created after the backup survived a full restore: %v: %s", err, out)
	}
}
