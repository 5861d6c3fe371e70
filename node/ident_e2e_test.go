package node_test

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// TestEveryRPCRefusesUnprintableIdentifiers sends each identifier field of
// each KeyService call, one at a time, with NUL, LF, ESC, DEL, non-ASCII
// and over-long values, to a follower (which checks before forwarding) and
// to the leader. Each must be INVALID_ARGUMENT naming the field, and none
// may change the cluster. kq's own generated ids, and the server's, pass.
func TestEveryRPCRefusesUnprintableIdentifiers(t *testing.T) {
	// Real processes: the ids kq generates are part of the CLI contract.
	c := startCluster(t, "simulator", func(o *cluster.Options) { o.ExtraConfig = lifecycleConfig })
	cl, err := c.Client("n2")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Ids kq generates itself: key create and sign without --request-id.
	var k keyJSON
	kqJSON(t, c, &k, "key", "create", "ed", "--algorithm", "ed25519")
	signOK(t, c, k, parseVerifier(t, k), []byte("generated ids pass"))
	// An id the server generates for a request without one.
	h := issueHandle(ctx, t, cl, &kqpb.IssueHandleRequest{Key: "ed", TtlMs: 600_000})
	if _, err := cl.Sign(ctx, &kqpb.SignRequest{Handle: h, Digest: []byte("server id")}); err != nil {
		t.Fatal(err)
	}
	before := snapshotKeys(ctx, t, cl)

	bad := map[string]string{
		"NUL": "x\x00y", "LF": "x\ny", "ESC": "x\x1b[2Jy", "DEL": "x\x7fy", "non-ASCII": "x\u00e9y",
	}
	over := map[string]int{"request_id": 129, "purpose": 65, "key": 65, "handle": 200, "handle_id": 17}
	kv := func(f func(*kqpb.KeyVersionRequest) (*kqpb.Key, error)) func(field, v string) error {
		return func(field, v string) error {
			req := &kqpb.KeyVersionRequest{Key: "ed", Version: 1, RequestId: "ok-1"}
			set(field, v, &req.Key, &req.RequestId, nil, nil, nil)
			_, err := f(req)
			return err
		}
	}
	rpcs := []struct {
		name   string
		fields []string
		call   func(field, v string) error
	}{
		{"CreateKey", []string{"key", "request_id", "purpose"}, func(field, v string) error {
			req := &kqpb.CreateKeyRequest{Name: "new", Algorithm: kqpb.Algorithm_ED25519, RequestId: "ok-1", Purposes: []string{"sign"}}
			set(field, v, &req.Name, &req.RequestId, &req.Purposes[0], nil, nil)
			_, err := cl.CreateKey(ctx, req)
			return err
		}},
		{"GetKey", []string{"key"}, func(_, v string) error {
			_, err := cl.GetKey(ctx, &kqpb.GetKeyRequest{Name: v})
			return err
		}},
		{"Sign", []string{"key", "request_id", "purpose", "handle"}, func(field, v string) error {
			req := &kqpb.SignRequest{Key: "ed", Handle: h, Digest: []byte("m"), RequestId: "ok-1"}
			set(field, v, &req.Key, &req.RequestId, &req.Purpose, &req.Handle, nil)
			_, err := cl.Sign(ctx, req)
			return err
		}},
		{"Verify", []string{"key"}, func(_, v string) error {
			_, err := cl.Verify(ctx, &kqpb.VerifyRequest{Key: v, Digest: []byte("m"), Signature: make([]byte, 64)})
			return err
		}},
		{"IssueHandle", []string{"key", "request_id", "purpose", "handle_id"}, func(field, v string) error {
			req := &kqpb.IssueHandleRequest{Key: "ed", TtlMs: 60_000, RequestId: "ok-1", TokenProof: make([]byte, 32)}
			req.HandleId = hex.EncodeToString(make([]byte, 8))
			set(field, v, &req.Key, &req.RequestId, &req.Purpose, nil, &req.HandleId)
			_, err := cl.IssueHandle(ctx, req)
			return err
		}},
		{"RevokeHandle", []string{"request_id", "handle"}, func(field, v string) error {
			req := &kqpb.RevokeHandleRequest{Handle: hex.EncodeToString(make([]byte, 8)), RequestId: "ok-1"}
			set(field, v, nil, &req.RequestId, nil, &req.Handle, nil)
			_, err := cl.RevokeHandle(ctx, req)
			return err
		}},
		{"RotateKey", []string{"key", "request_id"}, kv(func(r *kqpb.KeyVersionRequest) (*kqpb.Key, error) { return cl.RotateKey(ctx, r) })},
		{"PromoteKey", []string{"key", "request_id"}, func(field, v string) error {
			req := &kqpb.PromoteKeyRequest{Key: "ed", Version: 1, RequestId: "ok-1"}
			set(field, v, &req.Key, &req.RequestId, nil, nil, nil)
			_, err := cl.PromoteKey(ctx, req)
			return err
		}},
		{"RollbackKey", []string{"key", "request_id"}, kv(func(r *kqpb.KeyVersionRequest) (*kqpb.Key, error) { return cl.RollbackKey(ctx, r) })},
		{"RetireKeyVersion", []string{"key", "request_id"}, kv(func(r *kqpb.KeyVersionRequest) (*kqpb.Key, error) { return cl.RetireKeyVersion(ctx, r) })},
		{"RevokeKeyVersion", []string{"key", "request_id"}, kv(func(r *kqpb.KeyVersionRequest) (*kqpb.Key, error) { return cl.RevokeKeyVersion(ctx, r) })},
		{"SetKeyPolicy", []string{"key", "request_id"}, func(field, v string) error {
			one := uint32(1)
			req := &kqpb.SetKeyPolicyRequest{Key: "ed", MinSignVersion: &one, RequestId: "ok-1"}
			set(field, v, &req.Key, &req.RequestId, nil, nil, nil)
			_, err := cl.SetKeyPolicy(ctx, req)
			return err
		}},
		{"DestroyKeyVersion", []string{"key", "request_id"}, kv(func(r *kqpb.KeyVersionRequest) (*kqpb.Key, error) { return cl.DestroyKeyVersion(ctx, r) })},
		{"CancelDestroyKeyVersion", []string{"key", "request_id"}, kv(func(r *kqpb.KeyVersionRequest) (*kqpb.Key, error) { return cl.CancelDestroyKeyVersion(ctx, r) })},
		{"RefreshKey", []string{"key", "request_id"}, kv(func(r *kqpb.KeyVersionRequest) (*kqpb.Key, error) { return cl.RefreshKey(ctx, r) })},
	}
	// What each field's error says, so a client can tell which one to fix.
	names := map[string]string{"key": "key", "request_id": "request_id", "purpose": "purpose", "handle": "handle", "handle_id": "handle_id"}
	cases := 0
	for _, r := range rpcs {
		for _, field := range r.fields {
			values := map[string]string{"over-long": strings.Repeat("a", over[field])}
			for n, v := range bad {
				values[n] = v
			}
			for what, v := range values {
				err := r.call(field, v)
				cases++
				if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), names[field]) {
					t.Errorf("%s with %s %s: got %v, want INVALID_ARGUMENT naming %s", r.name, what, field, err, names[field])
				}
			}
		}
	}
	after := snapshotKeys(ctx, t, cl)
	if len(after) != len(before) {
		t.Errorf("refused requests changed the key set: %d keys, then %d", len(before), len(after))
	}
	for name, k := range before {
		if !proto.Equal(k, after[name]) {
			t.Errorf("key %s changed under refused requests:\nbefore %v\nafter  %v", name, k, after[name])
		}
	}
	t.Logf("%d refused requests over %d RPCs", cases, len(rpcs))
}

// set puts v into the one field a table row names, leaving the others
// valid; nil targets are fields the request does not have.
func set(field, v string, key, requestID, purpose, handle, handleID *string) {
	target := map[string]*string{"key": key, "request_id": requestID, "purpose": purpose, "handle": handle, "handle_id": handleID}[field]
	if target == nil {
		panic("test table names a field its request lacks: " + field)
	}
	*target = v
}
