package node_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// testClient returns a client of node id that signs the way the older
// tests were written, by key name: a Sign with a key and no handle first
// gets a handle for that key (issued once per key and client, through the
// real IssueHandle path), as `kq sign NAME` does.
func testClient(c scenarioCluster, id string) (kqpb.KeyServiceClient, error) {
	cl, err := c.Client(id)
	if err != nil {
		return nil, err
	}
	return &handleClient{KeyServiceClient: cl, handles: map[string]string{}}, nil
}

// mustTestClient is testClient for a member the test cannot go on without.
func mustTestClient(t *testing.T, c scenarioCluster, id string) kqpb.KeyServiceClient {
	t.Helper()
	cl, err := testClient(c, id)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

type handleClient struct {
	kqpb.KeyServiceClient
	mu      sync.Mutex
	handles map[string]string
}

func (c *handleClient) Sign(ctx context.Context, req *kqpb.SignRequest, opts ...grpc.CallOption) (*kqpb.SignResponse, error) {
	if req.Handle == "" && req.Key != "" {
		h, err := c.handle(ctx, req.Key)
		if err != nil {
			return nil, err
		}
		req = proto.Clone(req).(*kqpb.SignRequest)
		req.Handle = h
	}
	return c.KeyServiceClient.Sign(ctx, req, opts...)
}

func (c *handleClient) handle(ctx context.Context, key string) (string, error) {
	c.mu.Lock()
	h, ok := c.handles[key]
	c.mu.Unlock()
	if ok {
		return h, nil
	}
	resp, err := c.IssueHandle(ctx, &kqpb.IssueHandleRequest{Key: key, Purpose: "sign", TtlMs: 3_600_000})
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.handles[key] = resp.Handle
	c.mu.Unlock()
	return resp.Handle, nil
}

// tokenSecret is the secret part of a handle token "kqh_<16 hex>_<secret>";
// the secret's base64url alphabet includes '_', so it is cut by position.
func tokenSecret(tok string) string { return tok[len("kqh_")+16+1:] }
