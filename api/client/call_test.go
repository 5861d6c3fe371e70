package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/client"
	"github.com/keyquorum/keyquorum/api/kqpb"
)

// The generated stubs over a Client fail over like the typed methods and
// keep the request id the caller set.
func TestStubsOverClientFailOver(t *testing.T) {
	p := newPKI(t)
	flaky, good := startFake(t, p), startFake(t, p)
	flaky.unavailable = 1 << 30
	c, err := client.New(client.Config{Endpoints: []string{deadAddr(t), flaky.addr, good.addr}, CA: p.caPEM, Cert: p.clientCert,
		Key: p.clientKey, ConnectTimeout: 500 * time.Millisecond, Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = kqpb.NewKeyServiceClient(c).Sign(context.Background(), &kqpb.SignRequest{Key: "ed", Handle: "h", Digest: []byte("x"), RequestId: "stub-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(good.signIDs) != 1 || good.signIDs[0] != "stub-1" || len(flaky.signIDs) == 0 {
		t.Fatalf("good saw %v, flaky %v", good.signIDs, flaky.signIDs)
	}
	// Without a request id the stub call gets one, the same on every
	// endpoint it tries, and the caller's request is left as it was.
	flaky.mu.Lock()
	flaky.unavailable = 1
	flaky.mu.Unlock()
	c2, err := client.New(client.Config{Endpoints: []string{flaky.addr, good.addr}, CA: p.caPEM, Cert: p.clientCert, Key: p.clientKey,
		Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	bare := &kqpb.SignRequest{Key: "ed", Handle: "h", Digest: []byte("no id")}
	if _, err := kqpb.NewKeyServiceClient(c2).Sign(context.Background(), bare); err != nil {
		t.Fatal(err)
	}
	if id := good.signIDs[len(good.signIDs)-1]; id == "" || flaky.signIDs[len(flaky.signIDs)-1] != id || bare.RequestId != "" {
		t.Fatalf("flaky saw %q, good %q, caller's request now %q", flaky.signIDs[len(flaky.signIDs)-1], id, bare.RequestId)
	}

	var e *client.Error
	_, err = kqpb.NewKeyServiceClient(c).Sign(context.Background(), &kqpb.SignRequest{Key: "other", Handle: "h", Digest: []byte("y"), RequestId: "stub-2"})
	if !errors.Is(err, client.ErrPermissionDenied) || !errors.As(err, &e) || e.Op != "Sign" || e.RequestID != "stub-2" {
		t.Fatalf("refusal: %v", err)
	}
}

// New does not connect: a client of a cluster that is down is made, and
// its first call reports the endpoint unavailable.
func TestNewIsLazyAndCallKeepsItsOwnErrors(t *testing.T) {
	p := newPKI(t)
	c, err := client.New(client.Config{Endpoints: []string{deadAddr(t)}, CA: p.caPEM, Cert: p.clientCert, Key: p.clientKey,
		ConnectTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ListKeys(context.Background()); !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("down cluster: %v", err)
	}

	f := startFake(t, p)
	c2, err := client.New(client.Config{Endpoints: []string{f.addr}, CA: p.caPEM, Cert: p.clientCert, Key: p.clientKey})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	mine := errors.New("bad answer")
	runs := 0
	err = c2.Call(context.Background(), "Check", "", func(ctx context.Context, conn *grpc.ClientConn) error {
		runs++
		if _, err := kqpb.NewKeyServiceClient(conn).Sign(ctx, &kqpb.SignRequest{Key: "ed", Handle: "h", Digest: []byte("z"), RequestId: "c-1"}); err != nil {
			return err
		}
		return mine
	})
	if err != mine || runs != 1 {
		t.Fatalf("Call returned %v after %d runs, want the function's own error after 1", err, runs)
	}
}
