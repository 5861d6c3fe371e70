package node_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/node/metrics/metricstest"
)

// TestConfigDriftIsShownAndChangesNothing starts n2 with another
// handles.max_ttl in its own cluster.yaml than the others. Nothing
// replicated changes (the limits the cluster applies are the replicated
// ones, whichever node leads), and the drift shows in `kq status`, in the
// metrics and in the audit trail.
func TestConfigDriftIsShownAndChangesNothing(t *testing.T) {
	c := startCluster(t, "simulator", func(o *cluster.Options) { o.Metrics = true })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitProtocol(ctx, t, c, 2, 20*time.Second)
	// The first leader under protocol 2 replicates its own file's limits
	// once; n2 may only drift after that, or a drifted n2 that wins the
	// next election would set the cluster's limits from its file.
	au, err := c.Audit("n1")
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		r, err := au.Query(ctx, &kqpb.AuditQueryRequest{Op: "set_limits"})
		if err == nil && len(r.Records) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the limits were never replicated: %v, %v", r, err)
		}
	}
	c.StopNode("n2")
	if err := c.SetNodeConfig("n2", "handles:\n  max_ttl: 1h\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.StartNode("n2"); err != nil {
		t.Fatal(err)
	}

	// kq status (any node) names n2's drift.
	var member *kqpb.Member
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if st, err := c.Status(ctx, "n1"); err == nil {
			i := slices.IndexFunc(st.Members, func(m *kqpb.Member) bool { return m.Id == "n2" })
			if i >= 0 && len(st.Members[i].Drift) > 0 {
				member = st.Members[i]
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("kq status never showed n2's drift")
		}
	}
	if len(member.Drift) != 1 || !strings.Contains(member.Drift[0], "handles.max_ttl=1h0m0s") || !strings.Contains(member.Drift[0], "24h0m0s") {
		t.Fatalf("n2's drift in status: %q, want handles.max_ttl 1h0m0s against 24h0m0s", member.Drift)
	}
	// kq status shows each node's drift as that node's own replica holds
	// it; n2 may still be catching up on its own report.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		out, err := c.KQ(ctx, "status")
		if err == nil && strings.Contains(string(out), "n2: drift: handles.max_ttl=1h0m0s") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kq status table: %v\n%s", err, out)
		}
	}

	// The metric, on a node that is not n2.
	text, err := c.Scrape(ctx, "n3")
	if err != nil {
		t.Fatal(err)
	}
	if v := metricstest.Parse(t, text)[`keyquorum_config_drift{node="n2",setting="handles.max_ttl"}`]; v != 1 {
		t.Fatalf("keyquorum_config_drift for n2's handles.max_ttl = %v, want 1", v)
	}

	// The audit trail.
	r, err := au.Query(ctx, &kqpb.AuditQueryRequest{Op: "node_settings", Actor: "node:n2"})
	if err != nil || len(r.Records) == 0 || !strings.Contains(r.Records[len(r.Records)-1].Reason, "drift: handles.max_ttl=1h0m0s") {
		t.Fatalf("audit of n2's settings: %v, %v", r, err)
	}

	// Nothing replicated changed: a 2 h handle is within the cluster's
	// limits, whichever node serves or leads.
	for _, id := range c.IDs() {
		cl, err := c.Client(id)
		if err != nil {
			t.Fatal(err)
		}
		createKey(ctx, t, cl, "drift-"+id, kqpb.Algorithm_ED25519)
		if _, err := cl.IssueHandle(ctx, &kqpb.IssueHandleRequest{Key: "drift-" + id, TtlMs: uint64((2 * time.Hour).Milliseconds()),
			RequestId: "h2-" + id}); err != nil {
			t.Fatalf("2 h handle through %s: %v", id, err)
		}
	}
}

// TestProductionModeRefusesInsecureSettings: a cluster declared
// `mode: production` refuses to start a node on the TPM simulator, on
// fixture pre-params or sealing to a resettable PCR, with a message naming
// each; `mode: dev` says so on every start.
func TestProductionModeRefusesInsecureSettings(t *testing.T) {
	c := startCluster(t, "simulator")
	logText, err := os.ReadFile(c.LogPath("n1"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logText), "DEVELOPMENT MODE") {
		t.Fatalf("a dev cluster's log does not say so:\n%s", tail(logText, 2000))
	}
	c.StopNode("n1")
	if err := c.SetNodeConfig("n1", "mode: production\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.StartNode("n1"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitExit("n1", 30*time.Second); !errors.Is(err, cluster.ErrExited) {
		t.Fatalf("production mode on the simulator: %v, want kqd to exit", err)
	}
	logText, _ = os.ReadFile(c.LogPath("n1"))
	for _, want := range []string{"production", "tpm.backend", "simulator", "preparams.source", "fixtures", "tpm.pcrs"} {
		if !strings.Contains(string(logText), want) {
			t.Errorf("the refusal does not name %q:\n%s", want, tail(logText, 1500))
		}
	}
}
