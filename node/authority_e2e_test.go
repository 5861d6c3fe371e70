package node_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// TestNodeCertificatesDoNotActAsClients: a member's certificate (stolen,
// or a member in the wrong hands) calls the client port of another member
// in its own name, and with forwarding metadata that names no client (its
// own id, or nothing): each is PERMISSION_DENIED and creates nothing. A
// real forward (a client's call through a follower) still works, as every
// other e2e test shows.
func TestNodeCertificatesDoNotActAsClients(t *testing.T) {
	c := startInProcess(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	leader := leaderOf(ctx, t, c)
	other := "n1"
	if leader == other {
		other = "n2"
	}
	conn, err := c.ClientAs(other, leader)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ks := kqpb.NewKeyServiceClient(conn)
	for i, tc := range []struct {
		name string
		md   metadata.MD
	}{
		{"in its own name", nil},
		{"vouching for nothing", metadata.Pairs("kq-forwarded", other)},
		{"vouching for a node", metadata.Pairs("kq-forwarded", other, "kq-actor", "spiffe://kq-test/node/"+other)},
		{"vouching for garbage", metadata.Pairs("kq-forwarded", other, "kq-actor", "admin")},
	} {
		cctx := ctx
		if tc.md != nil {
			cctx = metadata.NewOutgoingContext(ctx, tc.md)
		}
		_, err := ks.CreateKey(cctx, &kqpb.CreateKeyRequest{Name: "by-node", Algorithm: kqpb.Algorithm_ED25519, RequestId: fmt.Sprintf("by-node-%d", i)})
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("CreateKey with a node certificate %s: %v, want PERMISSION_DENIED", tc.name, err)
		}
	}
	cl, err := c.Client(leader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.GetKey(ctx, &kqpb.GetKeyRequest{Name: "by-node"}); status.Code(err) != codes.NotFound {
		t.Fatalf("a key made by a node certificate exists: %v", err)
	}
}
