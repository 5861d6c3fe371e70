package nodetest_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/node/nodetest"
)

// TestClusterSignsAndSurvivesARestart starts an in-process cluster, signs
// with an Ed25519 key made by DKG, and signs again after the leader was
// stopped and restarted on its stores: the seams of node.Options carry a
// whole cluster, and a restart keeps what a member keeps on disk.
func TestClusterSignsAndSurvivesARestart(t *testing.T) {
	start := time.Now()
	c := nodetest.Start(t, nodetest.Options{ElectionTimeout: 300 * time.Millisecond})
	t.Logf("3 members ready after %s", time.Since(start).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.Client(leader)
	if err != nil {
		t.Fatal(err)
	}
	var k *kqpb.Key
	for {
		k, err = cl.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "ed", Algorithm: kqpb.Algorithm_ED25519, RequestId: "create-ed"})
		if code := status.Code(err); code != codes.Unavailable || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	pub := ed25519.PublicKey(k.PublicKey)
	sign := func(via, msg string) {
		t.Helper()
		cl, err := c.Client(via)
		if err != nil {
			t.Fatal(err)
		}
		var resp *kqpb.SignResponse
		for ctx.Err() == nil {
			var h *kqpb.Handle
			// A leader change on a busy machine leaves an attempt
			// unanswered; the request id makes the retry safe.
			actx, cancel := context.WithTimeout(ctx, 20*time.Second)
			if h, err = cl.IssueHandle(actx, &kqpb.IssueHandleRequest{Key: "ed", Purpose: "sign", TtlMs: 60_000}); err == nil {
				resp, err = cl.Sign(actx, &kqpb.SignRequest{Handle: h.Handle, Digest: []byte(msg), RequestId: msg})
			}
			cancel()
			if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("sign %q via %s: %v", msg, via, err)
		}
		if !ed25519.Verify(pub, []byte(msg), resp.Signature) {
			t.Fatalf("signature of %q does not verify", msg)
		}
	}
	sign(leader, "before")

	c.StopNode(leader)
	if c.Node(leader) != nil {
		t.Fatal("stopped member still has a node")
	}
	if err := c.WaitReady(ctx, false); err != nil {
		t.Fatal(err)
	}
	next, err := c.Leader(ctx)
	if err != nil || next == leader {
		t.Fatalf("leader after stopping %s: %q, %v", leader, next, err)
	}
	sign(next, "two-members")
	if err := c.StartNode(leader); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(ctx, true); err != nil {
		t.Fatal(err)
	}
	sign(leader, "restarted")
	for _, id := range c.IDs() {
		if err := c.Err(id); err != nil {
			t.Fatal(err)
		}
	}
}
