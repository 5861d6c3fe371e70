package node_test

import (
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// TestForceNewClusterDrill is the runbook "a majority lost for good, t+1
// shares survive" (docs/OPERATIONS.md): five nodes, threshold 1; n1, n2
// and n3 are gone. The confirmation gate holds; `kqd recover
// --force-new-cluster --members n4,n5` on both survivors makes them a
// cluster that, once cluster.yaml lists only them, elects a leader and
// signs with the key made before the loss; each recovery is on the audit
// trail. Five nodes for about 20 s: it runs with KQ_LONG=1 (make drills).
func TestForceNewClusterDrill(t *testing.T) {
	if os.Getenv("KQ_LONG") == "" {
		t.Skip("a five-node drill; set KQ_LONG=1 (make drills)")
	}
	c := startCluster(t, "swtpm", func(o *cluster.Options) { o.Nodes = 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var k keyJSON
	kqJSON(t, c, &k, "key", "create", "ed", "--algorithm", "ed25519")
	verify := parseVerifier(t, k)
	signOK(t, c, k, verify, []byte("before the loss"))
	waitAuditKey(ctx, t, c)

	for _, id := range c.IDs() {
		c.Kill(id) // n1-n3 for good; n4 and n5 to run the recovery offline
	}
	recover := func(id, stdin string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kqd"), append([]string{"recover", "--config", c.ConfigPath,
			"--node", id, "--members", "n4,n5"}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := recover("n4", "kq-test\n"); err == nil || !strings.Contains(out, "--force-new-cluster") {
		t.Fatalf("recover without --force-new-cluster: %v: %s", err, out)
	}
	if out, err := recover("n4", "yes\n", "--force-new-cluster"); err == nil || !strings.Contains(out, "not confirmed; nothing changed") {
		t.Fatalf("recover with a wrong confirmation: %v: %s", err, out)
	}
	if out, err := recover("n4", "kq-test\n", "--force-new-cluster"); err != nil || !strings.Contains(out, "raft configuration [n4 n5] (was [n1 n2 n3 n4 n5])") {
		t.Fatalf("recover n4: %v: %s", err, out)
	}
	if out, err := recover("n5", "", "--force-new-cluster", "--yes"); err != nil {
		t.Fatalf("recover n5: %v: %s", err, out)
	}
	// The runbook's next step: cluster.yaml lists the survivors only
	// (the clock bound and key creation count its members).
	trimmed := survivorsConfig(t, c, "n4", "n5")
	for _, id := range []string{"n4", "n5"} {
		if err := c.SetNodeConfig(id, ""); err != nil {
			t.Fatal(err)
		}
		must(t, os.WriteFile(filepath.Join(filepath.Dir(c.ConfigPath), "cluster-"+id+".yaml"), trimmed, 0o644))
		if err := c.StartNode(id); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, c)

	var s signJSON
	msg := []byte("after the recovery")
	cfg := filepath.Join(filepath.Dir(c.ConfigPath), "cluster-n4.yaml")
	kqJSON(t, c, &s, "--config", cfg, "sign", "ed", "--digest", hex.EncodeToString(msg))
	sig, err := hex.DecodeString(s.SignatureHex)
	if err != nil || !verify(msg, sig) {
		t.Fatalf("signature after the recovery does not verify: %+v %v", s, err)
	}

	a, err := c.Audit("n4")
	if err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := a.Query(ctx, &kqpb.AuditQueryRequest{Op: "cluster_recovered"})
		if err == nil {
			by := map[string]bool{}
			for _, r := range resp.Records {
				if !strings.Contains(r.Reason, "forced to [n4 n5] (was [n1 n2 n3 n4 n5])") {
					t.Fatalf("recovery record: %+v", r)
				}
				by[r.Actor] = true
			}
			if len(by) == 2 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("the recoveries are not on the audit trail: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, id := range []string{"n4", "n5"} {
		if _, err := os.Stat(filepath.Join(c.DataDir(), id, "recovered.json")); !os.IsNotExist(err) {
			t.Errorf("%s kept its recovery note after it was audited: %v", id, err)
		}
	}
}

// survivorsConfig is the cluster's config with only the given nodes.
func survivorsConfig(t *testing.T, c *cluster.Cluster, keep ...string) []byte {
	t.Helper()
	data, err := os.ReadFile(c.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	drop := false
	for _, line := range strings.Split(string(data), "\n") {
		if id, ok := strings.CutPrefix(line, "  - id: "); ok {
			drop = !slices.Contains(keep, id)
		} else if !strings.HasPrefix(line, "    ") {
			drop = false
		}
		if !drop {
			out = append(out, line)
		}
	}
	return []byte(strings.Join(out, "\n"))
}
