package node_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// compatBinDir builds kqd and kq with the kqd_compat tag, which speak only
// the previous protocol version, once per test binary.
func compatBinDir(t *testing.T) string { return taggedBinDir(t, "kqd_compat") }

// waitProtocol waits until every running node reports the active protocol
// version want.
func waitProtocol(ctx context.Context, t *testing.T, c *cluster.Cluster, want uint32, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		all := true
		for _, id := range c.IDs() {
			st, err := c.Status(ctx, id)
			if err != nil || st.Protocol != want {
				all = false
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the active protocol did not become %d within %s", want, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRollingUpgradeAndRefusedDowngrade upgrades a cluster of the previous
// protocol version node by node while a client signs without pause, and
// checks every signature. The active version stays at 1 until the last
// node runs the new build, then rises to 2 by itself; from then on an old
// build started on any node's data stops at the raise with an error naming
// the entry and its version, and the others sign on.
func TestRollingUpgradeAndRefusedDowngrade(t *testing.T) {
	compat := compatBinDir(t)
	c := startCluster(t, "simulator", func(o *cluster.Options) { o.BinDir = compat })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl := mustTestClient(t, c, "n1")
	key := createKey(ctx, t, cl, "up", kqpb.Algorithm_ED25519)
	pub := ed25519.PublicKey(versionOf(t, key, 1).PublicKey)
	waitProtocol(ctx, t, c, 1, 10*time.Second)

	// A client signs through every node in turn for the whole upgrade.
	var signed, failed atomic.Int64
	var bad atomic.Value
	clients := map[string]kqpb.KeyServiceClient{}
	for _, id := range c.IDs() {
		clients[id] = mustTestClient(t, c, id)
	}
	sctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; sctx.Err() == nil; i++ {
			msg := []byte(fmt.Sprintf("rolling %d", i))
			rctx, rcancel := context.WithTimeout(sctx, 5*time.Second)
			resp, err := clients[c.IDs()[i%3]].Sign(rctx, &kqpb.SignRequest{Key: "up", Digest: msg, RequestId: fmt.Sprintf("roll-%d", i)})
			rcancel()
			switch {
			case err != nil:
				failed.Add(1)
				time.Sleep(100 * time.Millisecond)
			case !ed25519.Verify(pub, msg, resp.Signature):
				bad.Store(fmt.Sprintf("signature %d does not verify", i))
			default:
				signed.Add(1)
			}
		}
	}()

	for _, id := range c.IDs() {
		before := signed.Load()
		c.StopNode(id)
		c.SetBinDir(id, binDir)
		if err := c.StartNode(id); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			st, err := c.Status(ctx, id)
			if err == nil && st.MaxProtocol == 2 && signed.Load() > before {
				if id != c.IDs()[2] && st.Protocol != 1 {
					t.Fatalf("protocol %d with %s upgraded, before the last node: want 1", st.Protocol, id)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s on the new build: status %v, err %v, %d signed since its restart", id, st, err, signed.Load()-before)
			}
		}
	}
	waitProtocol(ctx, t, c, 2, 20*time.Second)
	raised := signed.Load()
	for deadline := time.Now().Add(20 * time.Second); signed.Load() < raised+5; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("signing did not go on after the raise: %d signed", signed.Load()-raised)
		}
	}
	stop()
	wg.Wait()
	if msg := bad.Load(); msg != nil {
		t.Fatal(msg)
	}
	t.Logf("rolling upgrade: %d signatures verified, %d requests failed during restarts", signed.Load(), failed.Load())

	// The raise is evidence in the audit trail.
	au, err := c.Audit("n1")
	if err != nil {
		t.Fatal(err)
	}
	if r, err := au.Query(ctx, &kqpb.AuditQueryRequest{Op: "raise_protocol"}); err != nil || len(r.Records) != 1 || r.Records[0].Version != 2 {
		t.Fatalf("audit records of the raise: %v, %v; want one, to version 2", r, err)
	}

	// A downgrade of one node after the raise is refused at start.
	c.StopNode("n3")
	c.SetBinDir("n3", compat)
	if err := c.StartNode("n3"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitExit("n3", 60*time.Second); !errors.Is(err, cluster.ErrExited) {
		t.Fatalf("an old build on n3 after the raise: %v, want it to exit", err)
	}
	logText, err := os.ReadFile(c.LogPath("n3"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logText), "cannot apply entry") || !strings.Contains(string(logText), "protocol 2") {
		t.Fatalf("n3's log does not say it stopped at an entry of protocol 2:\n%s", tail(logText, 2000))
	}
	if _, err := clients["n1"].Sign(ctx, &kqpb.SignRequest{Key: "up", Digest: []byte("after"), RequestId: "after-downgrade"}); err != nil {
		t.Fatalf("n1 and n2 stopped signing after n3's refused downgrade: %v", err)
	}
	// The others show n3 down, and their audit chains agree: nothing
	// applied differently anywhere.
	if out, err := c.KQ(ctx, "status"); err != nil || !strings.Contains(string(out), "n3") || !strings.Contains(string(out), "unreachable") {
		t.Fatalf("kq status does not show n3 unreachable: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var heads []string
		for _, id := range []string{"n1", "n2"} {
			a, err := c.Audit(id)
			if err != nil {
				t.Fatal(err)
			}
			if h, err := a.Head(ctx, &kqpb.AuditHeadRequest{}); err == nil {
				heads = append(heads, fmt.Sprintf("%d/%s", h.Seq, h.Hash))
			}
		}
		if len(heads) == 2 && heads[0] == heads[1] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit heads of n1 and n2 differ after the upgrade: %v", heads)
		}
	}
}
