package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// drillKeys checks every key's holders and threshold and that its public
// key is the one it had at the start, and signs with the Ed25519 one.
func drillKeys(ctx context.Context, t *testing.T, cl kqpb.KeyServiceClient, pubs map[string][]byte, holders []string, threshold uint32, stage string) {
	drillSign(ctx, t, cl, pubs, stage)
	drillHolders(ctx, t, cl, pubs, holders, threshold, stage)
}

var drillHandle string

func drillSign(ctx context.Context, t *testing.T, cl kqpb.KeyServiceClient, pubs map[string][]byte, stage string) {
	t.Helper()
	msg := []byte("drill " + stage)
	resp, err := cl.Sign(ctx, &kqpb.SignRequest{Handle: drillHandle, Digest: msg, RequestId: "drill-" + stage})
	if err != nil {
		t.Fatalf("%s: sign: %v", stage, err)
	}
	if !ed25519.Verify(pubs["dk"], msg, resp.Signature) {
		t.Fatalf("%s: signature does not verify", stage)
	}
}

func drillHolders(ctx context.Context, t *testing.T, cl kqpb.KeyServiceClient, pubs map[string][]byte, holders []string, threshold uint32, stage string) {
	t.Helper()
	keys, err := cl.ListKeys(ctx, &kqpb.ListKeysRequest{})
	if err != nil {
		t.Fatalf("%s: %v", stage, err)
	}
	for _, k := range keys.Keys {
		if !bytes.Equal(pubs[k.Name], k.PublicKey) {
			t.Fatalf("%s: %s's public key changed", stage, k.Name)
		}
		if !slices.Equal(k.Members, holders) || (k.Name == "dk" && k.Threshold != threshold) {
			t.Fatalf("%s: %s holders %v threshold %d, want %v %d", stage, k.Name, k.Members, k.Threshold, holders, threshold)
		}
	}
}

// TestMembershipDrill grows a cluster from 3 to 5 nodes and back, changing
// the key's threshold 1 -> 2 -> 1 on the way, killing the leader during
// each change; then replaces a node that is dead with its data dir gone.
// Every public key stays; every stage signs. It runs with KQ_LONG=1
// (make drills).
func TestMembershipDrill(t *testing.T) {
	if os.Getenv("KQ_LONG") == "" {
		t.Skip("a long membership drill; set KQ_LONG=1 (make drills)")
	}
	c := startCluster(t, "simulator")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cl, err := c.Client("n1")
	if err != nil {
		t.Fatal(err)
	}
	createKey(ctx, t, cl, "dk", kqpb.Algorithm_ED25519)
	drillHandle = issueHandle(ctx, t, cl, &kqpb.IssueHandleRequest{Key: "dk", Purpose: "sign", TtlMs: 3_600_000})
	pubs := map[string][]byte{}
	keys, err := cl.ListKeys(ctx, &kqpb.ListKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys.Keys {
		pubs[k.Name] = k.PublicKey
	}
	// killLeader kills the leader (unless it is keep) and starts it again.
	killLeader := func(keep ...string) {
		t.Helper()
		leader, err := c.Leader(ctx)
		if err != nil || slices.Contains(keep, leader) {
			return
		}
		c.Kill(leader)
		time.Sleep(time.Second)
		if err := c.StartNode(leader); err != nil {
			t.Fatal(err)
		}
	}
	add := func(want []string) string {
		t.Helper()
		id, err := c.AddNode(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.KQ(ctx, "node", "add", id); err != nil {
			t.Fatal(err)
		}
		if err := c.StartNode(id); err != nil {
			t.Fatal(err)
		}
		killLeader(id)
		if early := watchPromotion(ctx, t, c, id); early != "" {
			t.Fatal(early)
		}
		waitHolders(ctx, t, cl, want)
		return id
	}
	n4 := add([]string{"n1", "n2", "n3", "n4"})
	drillKeys(ctx, t, cl, pubs, []string{"n1", "n2", "n3", "n4"}, 1, "four")
	n5 := add([]string{"n1", "n2", "n3", n4, "n5"})
	drillKeys(ctx, t, cl, pubs, []string{"n1", "n2", "n3", n4, n5}, 1, "five")
	if _, err := c.KQ(ctx, "key", "reshare", "dk", "--threshold", "2"); err != nil {
		t.Fatal(err)
	}
	drillKeys(ctx, t, cl, pubs, []string{"n1", "n2", "n3", n4, n5}, 2, "five-t2")
	if _, err := c.KQ(ctx, "key", "reshare", "dk", "--threshold", "1"); err != nil {
		t.Fatal(err)
	}
	for _, gone := range []string{n5, n4} {
		if _, err := c.KQ(ctx, "node", "remove", gone); err != nil {
			t.Fatal(err)
		}
		killLeader(gone)
		waitNodeState(ctx, t, c, gone, "removed")
		c.Kill(gone)
	}
	drillKeys(ctx, t, cl, pubs, []string{"n1", "n2", "n3"}, 1, "three")

	// A dead node, its disk gone, replaced by the two survivors.
	c.Kill("n3")
	if err := os.RemoveAll(filepath.Join(c.DataDir(), "n3")); err != nil {
		t.Fatal(err)
	}
	n6, err := c.AddNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KQ(ctx, "node", "replace", "n3", "--with", n6); err != nil {
		t.Fatal(err)
	}
	if err := c.StartNode(n6); err != nil {
		t.Fatal(err)
	}
	waitNodeState(ctx, t, c, n6, "voter")
	waitNodeState(ctx, t, c, "n3", "removed")
	drillKeys(ctx, t, cl, pubs, []string{"n1", "n2", n6}, 1, "n3-replaced-by-"+n6)
}

// waitHolders waits until every key is held by want.
func waitHolders(ctx context.Context, t *testing.T, cl kqpb.KeyServiceClient, want []string) {
	t.Helper()
	for ctx.Err() == nil {
		keys, err := cl.ListKeys(ctx, &kqpb.ListKeysRequest{})
		ok := err == nil
		for _, k := range keys.GetKeys() {
			ok = ok && slices.Equal(k.Members, want)
		}
		if ok {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("keys never held by %v", want)
}
