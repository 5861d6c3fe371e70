package node_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// bumpClock moves node id's clock through its fault endpoint ("reset"
// puts it back).
func bumpClock(t *testing.T, c *cluster.Cluster, id, by string) {
	t.Helper()
	path := "/clock/bump?by=" + by
	if by == "reset" {
		path = "/clock/reset"
	}
	resp, err := http.Post("http://"+c.AdminAddr(id)+path, "", nil)
	if err != nil {
		t.Fatalf("clock %s %s: %v", id, by, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("clock %s %s: %s", id, by, resp.Status)
	}
}

// clockCluster starts three nodes with fault endpoints and a key whose
// version 1 is scheduled for destruction 24 h out.
func clockCluster(t *testing.T, binDir, bugs string) (*cluster.Cluster, kqpb.KeyServiceClient, context.Context) {
	t.Helper()
	c := startCluster(t, "simulator", func(o *cluster.Options) {
		o.BinDir, o.Bugs, o.FaultAdmin = binDir, bugs, true
		o.ExtraConfig = "lifecycle:\n  destroy_pending: 24h\n"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	cl, err := c.Client("n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "clk", Algorithm: kqpb.Algorithm_ED25519, RequestId: "create-clk", DeletionAllowed: true}); err != nil {
		t.Fatal(err)
	}
	none := uint64(0)
	steps := []struct {
		name string
		call func() error
	}{
		{"rotate", func() error {
			_, err := cl.RotateKey(ctx, &kqpb.KeyVersionRequest{Key: "clk", RequestId: "rotate-clk"})
			return err
		}},
		{"promote", func() error {
			_, err := cl.PromoteKey(ctx, &kqpb.PromoteKeyRequest{Key: "clk", Version: 2, RequestId: "promote-clk", DualSignMs: &none})
			return err
		}},
		{"revoke", func() error {
			_, err := cl.RevokeKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "clk", Version: 1, RequestId: "revoke-clk"})
			return err
		}},
		{"destroy", func() error {
			_, err := cl.DestroyKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "clk", Version: 1, RequestId: "destroy-clk"})
			return err
		}},
	}
	for _, step := range steps {
		retryUnavailable(ctx, t, step.name, step.call)
	}
	if v := versionOf(t, getKey(ctx, t, cl, "clk"), 1); v.DestroyAtUnixNano == 0 || v.Destroyed {
		t.Fatalf("v1 not pending destruction: %v", v)
	}
	return c, cl, ctx
}

// retryUnavailable repeats f while it fails with UNAVAILABLE (a leader
// stepping down, or refusing to stamp for a moment): the request id makes
// each retry safe.
func retryUnavailable(ctx context.Context, t *testing.T, what string, f func() error) {
	t.Helper()
	for {
		err := f()
		if err == nil {
			return
		}
		if status.Code(err) != codes.Unavailable || ctx.Err() != nil {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestLeaderClockAheadCannotMoveTime is the incident this rule exists for:
// the leader's clock jumps 25 h ahead. It must not execute a destruction
// scheduled 24 h out, it must give up leadership, and the cluster must go
// on signing. Then, with one node's clock 10 minutes ahead for good, a
// handle issued for 5 minutes signs 4 minutes later and is refused after 5
// (the other clocks moved forward to stand in for the wait).
func TestLeaderClockAheadCannotMoveTime(t *testing.T) {
	c, cl, ctx := clockCluster(t, binDir, "")
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bumpClock(t, c, leader, "25h")

	// The leader gives up leadership within a probe round or two, and its
	// status says why it may not stamp.
	deadline := time.Now().Add(15 * time.Second)
	for {
		now, err := c.Leader(ctx)
		if err == nil && now != leader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leader %s with a clock 25 h ahead still leads (err %v)", leader, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st, err := c.Status(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Clock, "disagrees") || st.ClockOffsetNanos < int64(24*time.Hour) {
		t.Fatalf("status of %s: clock %q, offset %s; want it to say its clock disagrees, ~25h ahead", leader, st.Clock, time.Duration(st.ClockOffsetNanos))
	}
	// Give a wrongly stamped DestroyDue every chance to commit, then look.
	time.Sleep(3 * time.Second)
	if v := versionOf(t, getKey(ctx, t, cl, "clk"), 1); v.Destroyed || v.State == kqpb.KeyState_KEY_STATE_DESTROYED {
		t.Fatalf("v1 destroyed 24 h early: %v", v)
	}

	// The skewed node stays 10 minutes ahead; signing goes on.
	bumpClock(t, c, leader, "reset")
	bumpClock(t, c, leader, "10m")
	var h string
	retryUnavailable(ctx, t, "issue handle", func() error {
		r, err := cl.IssueHandle(ctx, &kqpb.IssueHandleRequest{Key: "clk", TtlMs: uint64((5 * time.Minute).Milliseconds()), RequestId: "h-clk"})
		if err == nil {
			h = r.Handle
		}
		return err
	})
	sign := func(id string) error {
		_, err := cl.Sign(ctx, &kqpb.SignRequest{Handle: h, Digest: []byte(id), RequestId: id})
		return err
	}
	retryUnavailable(ctx, t, "sign at once", func() error { return sign("s0") })

	// Four minutes on every clock: still within the handle's life.
	for _, id := range c.IDs() {
		bumpClock(t, c, id, "4m")
	}
	retryUnavailable(ctx, t, "sign 4 minutes later", func() error { return sign("s4") })

	// Past five minutes plus the offset bound: refused as expired.
	for _, id := range c.IDs() {
		bumpClock(t, c, id, "61s")
	}
	var last error
	retryUnavailable(ctx, t, "sign 5 minutes later", func() error {
		last = sign("s5")
		if last == nil {
			return fmt.Errorf("signed with a handle past its 5-minute life")
		}
		if status.Code(last) == codes.Unavailable {
			return last
		}
		return nil
	})
	if status.Code(last) != codes.PermissionDenied || !strings.Contains(last.Error(), "expired") {
		t.Fatalf("sign after 5 minutes: %v, want PERMISSION_DENIED for an expired handle", last)
	}
	if v := versionOf(t, getKey(ctx, t, cl, "clk"), 1); v.Destroyed {
		t.Fatalf("v1 destroyed: %v", v)
	}
}

// TestUnboundedTimeBugDestroysEarly runs the first half of the test above
// on a build with today's old rule (the leader's clock alone stamps time):
// the destruction scheduled 24 h out executes at once, on every node. It
// proves that the check above can fail.
func TestUnboundedTimeBugDestroysEarly(t *testing.T) {
	c, cl, ctx := clockCluster(t, bugsBinDir(t), "unbounded-time")
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bumpClock(t, c, leader, "25h")
	for ctx.Err() == nil {
		if v := versionOf(t, getKey(ctx, t, cl, "clk"), 1); v.Destroyed && len(v.SharesDestroyed) == 3 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("with the unbounded-time bug, the leader's clock 25 h ahead did not destroy v1; the test above proves nothing")
}

// bugsBinDir builds kqd and kq with the kqd_bugs tag, once per test binary.
func bugsBinDir(t *testing.T) string { return taggedBinDir(t, "kqd_bugs") }
