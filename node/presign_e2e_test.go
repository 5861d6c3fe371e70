package node_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// TestPresignedSignaturesSurviveLeaderKills signs from the presignature
// pool, kills the leader while requests are in flight, and checks that every
// signature verifies independently and that no two share the nonce point r:
// a presignature reused for two messages would leak the key.
func TestPresignedSignaturesSurviveLeaderKills(t *testing.T) {
	c := startCluster(t, "swtpm", func(o *cluster.Options) { o.SignTimeout = 5 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl := mustTestClient(t, c, "n1")
	createKey(ctx, t, cl, "ec", kqpb.Algorithm_ECDSA_SECP256K1)
	var k keyJSON
	kqJSON(t, c, &k, "key", "get", "ec")
	verify := parseVerifier(t, k)
	waitPresigs(ctx, t, cl, 2)

	rs := map[string]string{} // r -> request id
	check := func(reqID string, msg, sig []byte) {
		t.Helper()
		if !verify(msg, sig) {
			t.Fatalf("%s: signature does not verify", reqID)
		}
		s, err := secpecdsa.ParseDERSignature(sig)
		if err != nil {
			t.Fatal(err)
		}
		r := s.R()
		rb := r.Bytes()
		key := hex.EncodeToString(rb[:])
		if other, dup := rs[key]; dup && other != reqID {
			t.Fatalf("nonce reuse: requests %s and %s share r", other, reqID)
		}
		rs[key] = reqID
	}

	presigned := 0
	for i := range 2 {
		id := fmt.Sprintf("warm-%d", i)
		msg := digest(id)
		start := time.Now()
		resp, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "ec", Digest: msg, RequestId: id})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s presigned=%v", id, time.Since(start).Round(time.Millisecond), resp.Presigned)
		if resp.Presigned {
			presigned++
		}
		check(id, msg, resp.Signature)
		again, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "ec", Digest: msg, RequestId: id})
		if err != nil || hex.EncodeToString(again.Signature) != hex.EncodeToString(resp.Signature) {
			t.Fatalf("%s: retry returned another outcome: %v", id, err)
		}
	}
	if presigned == 0 {
		t.Fatal("no signature came from the presignature pool")
	}

	// Kill the leader with a request in flight; the request id resolves it.
	for round := range 2 {
		waitPresigs(ctx, t, cl, 1)
		leader := leaderOf(ctx, t, c)
		via := "n1"
		if leader == via {
			via = "n2"
		}
		vc, err := testClient(c, via)
		if err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprintf("kill-%d", round)
		msg := digest(id)
		done := make(chan struct{})
		go func() {
			defer close(done)
			cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
			defer ccancel()
			_, _ = vc.Sign(cctx, &kqpb.SignRequest{Key: "ec", Digest: msg, RequestId: id})
		}()
		time.Sleep(5 * time.Millisecond)
		c.Kill(leader)
		<-done
		if err := c.StartNode(leader); err != nil {
			t.Fatal(err)
		}
		waitReady(t, c)
		resp := signEventually(ctx, t, vc, &kqpb.SignRequest{Key: "ec", Digest: msg, RequestId: id})
		check(id, msg, resp.Signature)
	}
	for i := range 4 {
		id := fmt.Sprintf("after-%d", i)
		msg := digest(id)
		resp := signEventually(ctx, t, cl, &kqpb.SignRequest{Key: "ec", Digest: msg, RequestId: id})
		check(id, msg, resp.Signature)
	}
	t.Logf("%d signatures, all with distinct r", len(rs))
}

func waitPresigs(ctx context.Context, t *testing.T, cl kqpb.KeyServiceClient, n uint32) {
	t.Helper()
	for ctx.Err() == nil {
		k, err := cl.GetKey(ctx, &kqpb.GetKeyRequest{Name: "ec"})
		if err == nil && k.PresigsReady >= n {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("fewer than %d presignatures ready", n)
}

func leaderOf(ctx context.Context, t *testing.T, c scenarioCluster) string {
	t.Helper()
	for _, id := range c.IDs() {
		op, err := c.Operator(id)
		if err != nil {
			continue
		}
		st, err := op.Status(ctx, &kqpb.StatusRequest{})
		if err == nil && st.LeaderId != "" {
			return st.LeaderId
		}
	}
	t.Fatal("no leader")
	return ""
}

// leaderClient returns the leader's id and a client of it that keeps the
// handles of the keys it creates (testClient).
func leaderClient(ctx context.Context, t *testing.T, c scenarioCluster) (string, kqpb.KeyServiceClient) {
	t.Helper()
	leader := leaderOf(ctx, t, c)
	cl, err := testClient(c, leader)
	if err != nil {
		t.Fatal(err)
	}
	return leader, cl
}

// rawLeaderClient is leaderClient without the handle bookkeeping, for tests
// that issue and present handles themselves.
func rawLeaderClient(ctx context.Context, t *testing.T, c scenarioCluster) (string, kqpb.KeyServiceClient) {
	t.Helper()
	leader := leaderOf(ctx, t, c)
	cl, err := c.Client(leader)
	if err != nil {
		t.Fatal(err)
	}
	return leader, cl
}

// waitLeaderClient waits for the cluster to elect a leader (cluster.Leader)
// and returns its id and a client of it.
func waitLeaderClient(ctx context.Context, t *testing.T, c *cluster.Cluster) (string, kqpb.KeyServiceClient) {
	t.Helper()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.Client(leader)
	if err != nil {
		t.Fatal(err)
	}
	return leader, cl
}

// signEventually retries a request under its id until the cluster answers.
func signEventually(ctx context.Context, t *testing.T, cl kqpb.KeyServiceClient, req *kqpb.SignRequest) *kqpb.SignResponse {
	t.Helper()
	var last error
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		resp, err := cl.Sign(cctx, req)
		cancel()
		if err == nil {
			return resp
		}
		last = err
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s never signed: %v", req.RequestId, last)
	return nil
}
