package node_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// TestStalledCommitteeIsRetriedThenFails runs on the embedded simulator
// backend. A member that lost its share stalls every committee it is in:
// the leader retries such requests under another committee; when every
// committee stalls, the request fails after max_attempts with a clear
// error instead of hanging.
func TestStalledCommitteeIsRetriedThenFails(t *testing.T) {
	const attempt = 3 * time.Second
	// tss-lib's EdDSA: a FROST committee needs every member's published
	// commitments, which a member without its share never publishes, so
	// FROST would never choose n3 and nothing here would stall.
	c := startCluster(t, "simulator", func(o *cluster.Options) { o.SignTimeout, o.Ed25519 = attempt, "tss-lib" })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl, err := testClient(c, "n1")
	if err != nil {
		t.Fatal(err)
	}
	createKey(ctx, t, cl, "r", kqpb.Algorithm_ED25519)
	loseShare := func(id string) {
		c.StopNode(id)
		if err := os.Remove(filepath.Join(c.DataDir(), id, "shares", "r", "v1.sealed")); err != nil {
			t.Fatal(err)
		}
		if err := c.StartNode(id); err != nil {
			t.Fatal(err)
		}
		waitReady(t, c)
	}

	loseShare("n3")
	retried := false
	for i := range 4 {
		start := time.Now()
		resp, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "r", Digest: []byte{byte(i)}})
		if err != nil {
			t.Fatalf("sign %d with one member stalled: %v", i, err)
		}
		if slices.Contains(resp.Committee, "n3") {
			t.Fatalf("sign %d: committee %v includes the member without a share", i, resp.Committee)
		}
		if time.Since(start) >= attempt {
			retried = true
		}
	}
	if !retried {
		t.Fatal("no request needed a second committee: the rotation never chose n3")
	}

	loseShare("n2") // now every 2-member committee has a member without a share
	start := time.Now()
	_, err = cl.Sign(ctx, &kqpb.SignRequest{Key: "r", Digest: []byte("doomed")})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("sign with every committee stalled: got %v, want UNAVAILABLE after 3 attempts", err)
	}
	if el := time.Since(start); el < 3*attempt || el > 6*attempt {
		t.Fatalf("failed after %s, want about 3 attempts of %s", el, attempt)
	}
}
