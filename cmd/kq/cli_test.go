package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/keyquorum/keyquorum/api/handle"
	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/pki"
)

// fakeNode answers KeyService and OperatorService from memory, and insists
// that the caller is the cluster's admin client. It remembers the last
// request of each method, so tests can check what kq sent.
type fakeNode struct {
	kqpb.UnimplementedKeyServiceServer
	kqpb.UnimplementedOperatorServiceServer
	id    string
	state string

	mu      sync.Mutex
	keys    map[string]*kqpb.Key
	handles map[string]*fakeHandle // by id
	last    map[string]proto.Message
	secp    map[string]*secp256k1.PrivateKey // ECDSA keys sign for real
	// preparams is what Status reports ("" means ready); a key named
	// needs-preparams is refused as the FSM refuses one without them.
	preparams string
	// estimates is what Status reports of recent long operations.
	estimates []*kqpb.OperationEstimate
}

type fakeHandle struct {
	key, purpose  string
	uses, maxUses uint32
	revoked       bool
	proof         [32]byte
}

func (f *fakeNode) caller(ctx context.Context) error {
	id, err := pki.PeerIdentity(ctx)
	if err != nil {
		return status.Error(codes.Unauthenticated, err.Error())
	}
	if id.Kind != pki.KindClient || id.Name != "admin" {
		return status.Errorf(codes.PermissionDenied, "%s may not call", id)
	}
	return nil
}

// enter checks the caller, locks f and records req under method.
func (f *fakeNode) enter(ctx context.Context, method string, req proto.Message) (unlock func(), err error) {
	if err := f.caller(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.last[method] = proto.Clone(req)
	return f.mu.Unlock, nil
}

// lastRequest returns the last request of method that f answered.
func lastRequest[T proto.Message](t *testing.T, f *fakeNode, method string) T {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.last[method].(T)
	if !ok {
		t.Fatalf("%s was not called", method)
	}
	return m
}

func (f *fakeNode) CreateKey(ctx context.Context, r *kqpb.CreateKeyRequest) (*kqpb.Key, error) {
	unlock, err := f.enter(ctx, "CreateKey", r)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if r.Name == "needs-preparams" {
		return nil, status.Error(codes.FailedPrecondition, "pre-parameters not ready on n2")
	}
	purposes := r.Purposes
	if len(purposes) == 0 {
		purposes = []string{"sign"}
	}
	k := &kqpb.Key{Name: r.Name, Algorithm: r.Algorithm, Version: 1, Threshold: max(r.Threshold, 1),
		Members: []string{"n1", "n2", "n3"}, Confirmed: []string{"n1", "n2", "n3"},
		State: kqpb.KeyState_KEY_STATE_ACTIVE, PublicKey: []byte{2, 3}, PublicKeyPem: "PEM\n",
		Failure: "request " + r.RequestId, PrimaryVersion: 1, Purposes: purposes, DeletionAllowed: r.DeletionAllowed,
		Versions: []*kqpb.KeyVersion{{Version: 1, State: kqpb.KeyState_KEY_STATE_ACTIVE, PublicKey: []byte{2, 3}, PublicKeyPem: "PEM\n",
			Confirmed: []string{"n1", "n2", "n3"}}}}
	if r.Algorithm == kqpb.Algorithm_ECDSA_SECP256K1 {
		f.secpKey(k)
	}
	f.keys[r.Name] = k
	return k, nil
}

func (f *fakeNode) GetKey(ctx context.Context, r *kqpb.GetKeyRequest) (*kqpb.Key, error) {
	unlock, err := f.enter(ctx, "GetKey", r)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return f.key(r.Name)
}

func (f *fakeNode) key(name string) (*kqpb.Key, error) {
	k, ok := f.keys[name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "key %q not found", name)
	}
	return k, nil
}

func (f *fakeNode) ListKeys(ctx context.Context, r *kqpb.ListKeysRequest) (*kqpb.ListKeysResponse, error) {
	unlock, err := f.enter(ctx, "ListKeys", r)
	if err != nil {
		return nil, err
	}
	defer unlock()
	resp := &kqpb.ListKeysResponse{}
	for _, k := range f.keys {
		resp.Keys = append(resp.Keys, k)
	}
	return resp, nil
}

func (f *fakeNode) IssueHandle(ctx context.Context, r *kqpb.IssueHandleRequest) (*kqpb.Handle, error) {
	unlock, err := f.enter(ctx, "IssueHandle", r)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := f.key(r.Key); err != nil {
		return nil, err
	}
	// As a node does: a client-made token arrives as its id and proof and
	// is not echoed; otherwise the node makes one.
	id, token := r.HandleId, ""
	proof := [32]byte(r.TokenProof)
	if id == "" {
		id = fmt.Sprintf("%016x", len(f.handles)+1)
		token = "kqh_" + id + "_secret"
		proof = handle.Proof(token)
	}
	f.handles[id] = &fakeHandle{key: r.Key, purpose: r.Purpose, maxUses: r.MaxUses, proof: proof}
	expires := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC).Add(time.Duration(r.TtlMs) * time.Millisecond)
	return &kqpb.Handle{Handle: token, Id: id, Key: r.Key, Purpose: r.Purpose,
		ExpiresAtUnixNano: expires.UnixNano(), MaxUses: r.MaxUses}, nil
}

func (f *fakeNode) RevokeHandle(ctx context.Context, r *kqpb.RevokeHandleRequest) (*kqpb.RevokeHandleResponse, error) {
	unlock, err := f.enter(ctx, "RevokeHandle", r)
	if err != nil {
		return nil, err
	}
	defer unlock()
	h, ok := f.handles[r.Handle]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such handle")
	}
	h.revoked = true
	return &kqpb.RevokeHandleResponse{Id: r.Handle, Key: h.key}, nil
}

// Sign checks the handle as a node does, and signs with the key's dual-sign
// version too when it has one.
func (f *fakeNode) Sign(ctx context.Context, r *kqpb.SignRequest) (*kqpb.SignResponse, error) {
	unlock, err := f.enter(ctx, "Sign", r)
	if err != nil {
		return nil, err
	}
	defer unlock()
	id, _, _ := strings.Cut(strings.TrimPrefix(r.Handle, "kqh_"), "_")
	h, ok := f.handles[id]
	switch {
	case !ok || h.proof != handle.Proof(r.Handle) || h.revoked || h.maxUses > 0 && h.uses >= h.maxUses:
		return nil, status.Error(codes.PermissionDenied, "handle denied")
	case r.Key != "" && r.Key != h.key, r.Purpose != "" && r.Purpose != h.purpose:
		return nil, status.Error(codes.PermissionDenied, "handle denied: wrong key or purpose")
	}
	h.uses++
	k, err := f.key(h.key)
	if err != nil {
		return nil, err
	}
	version := cmp.Or(r.Version, k.PrimaryVersion)
	sig := append([]byte{byte(version)}, r.Digest...)
	if k.Algorithm == kqpb.Algorithm_ECDSA_SECP256K1 {
		sig = f.secpSign(k.Name, r.Digest)
	}
	resp := &kqpb.SignResponse{Key: h.key, Version: version, Signature: sig, Committee: []string{"n2", "n3"}, RequestId: r.RequestId, Index: 7,
		Signatures: []*kqpb.VersionSignature{{Version: version, Signature: sig}}}
	if d := k.DualSignVersion; d != 0 {
		resp.Signatures = append(resp.Signatures, &kqpb.VersionSignature{Version: d, Signature: append([]byte{byte(d)}, r.Digest...)})
	}
	return resp, nil
}

func (f *fakeNode) Verify(ctx context.Context, r *kqpb.VerifyRequest) (*kqpb.VerifyResponse, error) {
	unlock, err := f.enter(ctx, "Verify", r)
	if err != nil {
		return nil, err
	}
	defer unlock()
	version := cmp.Or(r.Version, 1)
	return &kqpb.VerifyResponse{Valid: bytes.Equal(r.Signature, append([]byte{byte(version)}, r.Digest...)), Version: version}, nil
}

// RotateKey stages the next version.
func (f *fakeNode) RotateKey(ctx context.Context, r *kqpb.KeyVersionRequest) (*kqpb.Key, error) {
	return f.change(ctx, "RotateKey", r, r.Key, func(k *kqpb.Key) {
		k.Versions = append(k.Versions, &kqpb.KeyVersion{Version: uint32(len(k.Versions)) + 1, State: kqpb.KeyState_KEY_STATE_STAGED})
	})
}

// PromoteKey makes the newest version primary, with a dual-sign window of
// the old primary unless the request opened none.
func (f *fakeNode) PromoteKey(ctx context.Context, r *kqpb.PromoteKeyRequest) (*kqpb.Key, error) {
	return f.change(ctx, "PromoteKey", r, r.Key, func(k *kqpb.Key) {
		v := k.Versions[len(k.Versions)-1]
		v.State = kqpb.KeyState_KEY_STATE_ACTIVE
		k.DualSignVersion, k.DualSignUntilUnixNano = 0, 0
		if (r.DualSignMs == nil || *r.DualSignMs > 0) && k.PrimaryVersion != v.Version {
			k.DualSignVersion = k.PrimaryVersion
			k.DualSignUntilUnixNano = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
		}
		k.PrimaryVersion, k.Version = v.Version, v.Version
	})
}

func (f *fakeNode) RollbackKey(ctx context.Context, r *kqpb.KeyVersionRequest) (*kqpb.Key, error) {
	return f.change(ctx, "RollbackKey", r, r.Key, func(*kqpb.Key) {})
}

func (f *fakeNode) RetireKeyVersion(ctx context.Context, r *kqpb.KeyVersionRequest) (*kqpb.Key, error) {
	return f.change(ctx, "RetireKeyVersion", r, r.Key, func(*kqpb.Key) {})
}

func (f *fakeNode) RevokeKeyVersion(ctx context.Context, r *kqpb.KeyVersionRequest) (*kqpb.Key, error) {
	return f.change(ctx, "RevokeKeyVersion", r, r.Key, func(*kqpb.Key) {})
}

func (f *fakeNode) SetKeyPolicy(ctx context.Context, r *kqpb.SetKeyPolicyRequest) (*kqpb.Key, error) {
	return f.change(ctx, "SetKeyPolicy", r, r.Key, func(k *kqpb.Key) {
		if r.DeletionAllowed != nil {
			k.DeletionAllowed = *r.DeletionAllowed
		}
	})
}

func (f *fakeNode) DestroyKeyVersion(ctx context.Context, r *kqpb.KeyVersionRequest) (*kqpb.Key, error) {
	return f.change(ctx, "DestroyKeyVersion", r, r.Key, func(*kqpb.Key) {})
}

func (f *fakeNode) CancelDestroyKeyVersion(ctx context.Context, r *kqpb.KeyVersionRequest) (*kqpb.Key, error) {
	return f.change(ctx, "CancelDestroyKeyVersion", r, r.Key, func(*kqpb.Key) {})
}

func (f *fakeNode) RefreshKey(ctx context.Context, r *kqpb.KeyVersionRequest) (*kqpb.Key, error) {
	return f.change(ctx, "RefreshKey", r, r.Key, func(k *kqpb.Key) { k.Versions[0].Epoch++ })
}

func (f *fakeNode) change(ctx context.Context, method string, req proto.Message, name string, apply func(*kqpb.Key)) (*kqpb.Key, error) {
	unlock, err := f.enter(ctx, method, req)
	if err != nil {
		return nil, err
	}
	defer unlock()
	k, err := f.key(name)
	if err != nil {
		return nil, err
	}
	apply(k)
	return k, nil
}

func (f *fakeNode) Status(ctx context.Context, _ *kqpb.StatusRequest) (*kqpb.StatusResponse, error) {
	if err := f.caller(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	preparams := cmp.Or(f.preparams, "ready")
	estimates := f.estimates
	f.mu.Unlock()
	return &kqpb.StatusResponse{ClusterId: "kq-test", NodeId: f.id, State: f.state, LeaderId: "n2", Term: 4, CommitIndex: 11, AppliedIndex: 11, Preparams: preparams, Keys: 1,
		SignRecords: 12, MaxSignRecords: 100000, RequestRecords: 3, MaxRequestRecords: 100000, DedupAgeSeconds: 86400, Handles: 5, MaxHandles: 100000,
		Estimates: estimates}, nil
}

type testCluster struct {
	config string
	leader *fakeNode // n2, which answers every call: n1 is down
}

// kq runs the CLI in-process.
func (tc testCluster) kq(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"--config", tc.config, "--timeout", "10s"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

// startCluster writes a three-node cluster.yaml where n1 refuses
// connections and n2 (leader) and n3 are fake nodes, and creates its
// certificates with `kq certs init`.
func startCluster(t *testing.T) testCluster {
	t.Helper()
	dir := t.TempDir()
	var lns []net.Listener
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
	}
	lns[0].Close() // n1 is down
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "cluster_id: kq-test\ndata_dir: data\nnodes:\n")
	for i, ln := range lns {
		fmt.Fprintf(&yaml, "  - {id: n%d, raft: \"127.0.0.1:%d\", peer: \"127.0.0.1:%d\", client: %q}\n", i+1, 10+i, 20+i, ln.Addr().String())
	}
	tc := testCluster{config: filepath.Join(dir, "cluster.yaml")}
	if err := os.WriteFile(tc.config, []byte(yaml.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := tc.kq(t, "-o", "json", "certs", "init")
	if code != 0 {
		t.Fatalf("certs init: exit %d: %s", code, errOut)
	}
	var certs struct {
		Dir     string   `json:"dir"`
		Created []string `json:"created"`
	}
	if err := json.Unmarshal([]byte(out), &certs); err != nil || len(certs.Created) != 10 {
		t.Fatalf("certs init printed %s (%v)", out, err)
	}
	if out, _, code := tc.kq(t, "certs", "init"); code != 0 || !strings.Contains(out, "all certificates present") {
		t.Fatalf("second certs init: exit %d: %s", code, out)
	}

	c, err := config.Load(tc.config)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]*kqpb.Key{}
	for i, ln := range lns[1:] {
		id := fmt.Sprintf("n%d", i+2)
		cfg, err := pki.ServerTLS(c.CertsDir(), id)
		if err != nil {
			t.Fatal(err)
		}
		state := "follower"
		if id == "n2" {
			state = "leader"
		}
		f := &fakeNode{id: id, state: state, keys: keys, handles: map[string]*fakeHandle{}, last: map[string]proto.Message{}}
		if id == "n3" {
			f.keys = map[string]*kqpb.Key{}
		} else {
			tc.leader = f
		}
		s := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
		kqpb.RegisterKeyServiceServer(s, f)
		kqpb.RegisterOperatorServiceServer(s, f)
		go s.Serve(ln)
		t.Cleanup(s.Stop)
	}
	return tc
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v in %q", err, s)
	}
	return v
}

func TestCLIAgainstFakeNodes(t *testing.T) {
	tc := startCluster(t)

	t.Run("status", func(t *testing.T) {
		out, errOut, code := tc.kq(t, "-o", "json", "status")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		v := decode[render.StatusView](t, out)
		if v.ClusterID != "kq-test" || v.Leader != "n2" || len(v.Nodes) != 3 {
			t.Fatalf("status = %+v", v)
		}
		if v.Nodes[0].Reachable || v.Nodes[0].State != "unreachable" || !strings.HasPrefix(v.Nodes[0].Error, "Unavailable:") {
			t.Errorf("n1 = %+v", v.Nodes[0])
		}
		if !v.Nodes[1].Reachable || v.Nodes[1].State != "leader" || v.Nodes[2].State != "follower" || v.Nodes[2].CommitIndex != 11 {
			t.Errorf("n2, n3 = %+v, %+v", v.Nodes[1], v.Nodes[2])
		}
		out, _, code = tc.kq(t, "status")
		if code != 0 || !strings.Contains(out, "cluster kq-test  leader n2") {
			t.Errorf("table: exit %d\n%s", code, out)
		}
	})

	t.Run("create falls back past the down node", func(t *testing.T) {
		out, errOut, code := tc.kq(t, "-o", "json", "key", "create", "payments", "--algorithm", "ed25519", "--request-id", "req-1")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		k := decode[render.KeyView](t, out)
		if k.Name != "payments" || k.Algorithm != "ed25519" || k.State != "active" || k.PublicKeyHex != "0203" || k.Failure != "request req-1" {
			t.Errorf("key = %+v", k)
		}
		out, errOut, code = tc.kq(t, "key", "get", "payments")
		if code != 0 || !strings.Contains(out, "payments") || !strings.Contains(out, "PEM") {
			t.Errorf("get: exit %d: %s%s", code, out, errOut)
		}
		out, errOut, code = tc.kq(t, "-o", "json", "key", "list")
		if code != 0 {
			t.Fatalf("list: exit %d: %s", code, errOut)
		}
		if l := decode[render.KeyListView](t, out); len(l.Keys) != 1 {
			t.Errorf("list: %s", out)
		}
	})

	t.Run("create sends purposes and deletion policy", func(t *testing.T) {
		out, errOut, code := tc.kq(t, "-o", "json", "key", "create", "orders", "--algorithm", "ed25519",
			"--purpose", "payments", "--purpose", "refunds", "--deletion-allowed")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		req := lastRequest[*kqpb.CreateKeyRequest](t, tc.leader, "CreateKey")
		if strings.Join(req.Purposes, ",") != "payments,refunds" || !req.DeletionAllowed {
			t.Errorf("request = %v", req)
		}
		k := decode[render.KeyView](t, out)
		if strings.Join(k.Purposes, ",") != "payments,refunds" || !k.DeletionAllowed || k.PrimaryVersion != 1 || len(k.Versions) != 1 {
			t.Errorf("key = %+v", k)
		}
	})

	t.Run("sign and verify", func(t *testing.T) {
		out, errOut, code := tc.kq(t, "-o", "json", "sign", "payments", "--digest", "0a0b", "--request-id", "s-1")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		s := decode[render.SignView](t, out)
		if s.SignatureHex != "010a0b" || s.RequestID != "s-1" || s.Index != 7 || strings.Join(s.Committee, ",") != "n2,n3" {
			t.Errorf("sign = %+v", s)
		}
		if len(s.Signatures) != 1 || s.Signatures[0] != (render.VersionSignatureView{Version: 1, SignatureHex: "010a0b"}) {
			t.Errorf("signatures = %+v", s.Signatures)
		}
		// Signing by name issues a one-use handle first and signs with it.
		issued := lastRequest[*kqpb.IssueHandleRequest](t, tc.leader, "IssueHandle")
		if issued.Key != "payments" || issued.Purpose != "sign" || issued.MaxUses != 1 || issued.TtlMs != 60000 || issued.RequestId == "" || issued.RequestId == "s-1" {
			t.Errorf("handle request = %v", issued)
		}
		signed := lastRequest[*kqpb.SignRequest](t, tc.leader, "Sign")
		if !strings.HasPrefix(signed.Handle, "kqh_") || signed.Key != "payments" || signed.Purpose != "sign" || signed.RequestId != "s-1" {
			t.Errorf("sign request = %v", signed)
		}
		out, _, code = tc.kq(t, "-o", "json", "verify", "payments", "--digest", "0a0b", "--signature", s.SignatureHex)
		if v := decode[render.VerifyView](t, out); code != 0 || !v.Valid || v.Key != "payments" || v.Version != 1 {
			t.Errorf("verify good: exit %d: %s", code, out)
		}
		out, _, code = tc.kq(t, "-o", "json", "verify", "payments", "--digest", "0a0b", "--signature", "00")
		if v := decode[render.VerifyView](t, out); code != 1 || v.Valid {
			t.Errorf("verify bad: exit %d: %s", code, out)
		}
		out, _, code = tc.kq(t, "verify", "payments", "--digest", "0a0b", "--signature", "020a0b", "--version", "2")
		if code != 0 || out != "valid: signature by payments version 2\n" {
			t.Errorf("verify v2: exit %d: %q", code, out)
		}
		if req := lastRequest[*kqpb.VerifyRequest](t, tc.leader, "Verify"); req.Version != 2 {
			t.Errorf("verify request = %v", req)
		}
	})

	t.Run("sign by name with a purpose", func(t *testing.T) {
		_, errOut, code := tc.kq(t, "sign", "orders", "--digest", "0a", "--purpose", "refunds")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if issued := lastRequest[*kqpb.IssueHandleRequest](t, tc.leader, "IssueHandle"); issued.Purpose != "refunds" || issued.Key != "orders" {
			t.Errorf("handle request = %v", issued)
		}
	})

	t.Run("handles", func(t *testing.T) {
		out, errOut, code := tc.kq(t, "-o", "json", "handle", "issue", "payments", "--purpose", "sign", "--ttl", "10m", "--max-uses", "3", "--request-id", "h-1")
		if code != 0 {
			t.Fatalf("issue: exit %d: %s", code, errOut)
		}
		h := decode[map[string]any](t, out)
		for _, field := range []string{"handle", "id", "key", "purpose", "expires_at", "max_uses"} {
			if _, ok := h[field]; !ok {
				t.Errorf("issue JSON lacks %q: %s", field, out)
			}
		}
		if h["key"] != "payments" || h["purpose"] != "sign" || h["max_uses"] != 3.0 || h["expires_at"] != "2030-01-02T03:14:05.000006Z" {
			t.Errorf("issue = %s", out)
		}
		req := lastRequest[*kqpb.IssueHandleRequest](t, tc.leader, "IssueHandle")
		if req.TtlMs != 600000 || req.MaxUses != 3 || req.RequestId != "h-1" || req.Purpose != "sign" {
			t.Errorf("issue request = %v", req)
		}
		token, id := h["handle"].(string), h["id"].(string)

		out, errOut, code = tc.kq(t, "-o", "json", "sign", "--handle", token, "--digest", "0c", "--version", "1", "--purpose", "sign")
		if code != 0 {
			t.Fatalf("sign: exit %d: %s", code, errOut)
		}
		if s := decode[render.SignView](t, out); s.Key != "payments" || s.SignatureHex != "010c" || len(s.Signatures) != 1 {
			t.Errorf("sign = %+v", s)
		}
		signed := lastRequest[*kqpb.SignRequest](t, tc.leader, "Sign")
		if signed.Handle != token || signed.Key != "" || signed.Version != 1 || signed.Purpose != "sign" {
			t.Errorf("sign request = %v", signed)
		}

		out, errOut, code = tc.kq(t, "handle", "issue", "payments")
		if code != 0 || !strings.Contains(out, "kqh_") || !strings.Contains(out, "unlimited") || !strings.Contains(out, "shown only once") {
			t.Errorf("issue table: exit %d: %s%s", code, out, errOut)
		}
		if req := lastRequest[*kqpb.IssueHandleRequest](t, tc.leader, "IssueHandle"); req.TtlMs != 600000 || req.Purpose != "sign" || req.MaxUses != 0 {
			t.Errorf("issue defaults = %v", req)
		}

		out, errOut, code = tc.kq(t, "-o", "json", "handle", "revoke", id, "--request-id", "rv-1")
		if code != 0 {
			t.Fatalf("revoke: exit %d: %s", code, errOut)
		}
		if r := decode[render.RevokedHandleView](t, out); r != (render.RevokedHandleView{ID: id, Key: "payments", Revoked: true}) {
			t.Errorf("revoke = %s", out)
		}
		if req := lastRequest[*kqpb.RevokeHandleRequest](t, tc.leader, "RevokeHandle"); req.Handle != id || req.RequestId != "rv-1" {
			t.Errorf("revoke request = %v", req)
		}
		_, errOut, code = tc.kq(t, "sign", "--handle", token, "--digest", "0c")
		if code != 1 || !strings.Contains(errOut, "PermissionDenied") {
			t.Errorf("sign with a revoked handle: exit %d: %q", code, errOut)
		}
	})

	t.Run("lifecycle", func(t *testing.T) {
		out, errOut, code := tc.kq(t, "-o", "json", "key", "rotate", "payments", "--request-id", "rot-1")
		if code != 0 {
			t.Fatalf("rotate: exit %d: %s", code, errOut)
		}
		if k := decode[render.KeyView](t, out); len(k.Versions) != 2 || k.Versions[1].State != "staged" || k.PrimaryVersion != 1 {
			t.Errorf("rotate = %+v", k)
		}
		if req := lastRequest[*kqpb.KeyVersionRequest](t, tc.leader, "RotateKey"); req.Key != "payments" || req.RequestId != "rot-1" || req.Version != 0 {
			t.Errorf("rotate request = %v", req)
		}

		out, errOut, code = tc.kq(t, "-o", "json", "key", "promote", "payments", "--version", "2")
		if code != 0 {
			t.Fatalf("promote: exit %d: %s", code, errOut)
		}
		req := lastRequest[*kqpb.PromoteKeyRequest](t, tc.leader, "PromoteKey")
		if req.DualSignMs != nil || req.Version != 2 || req.RequestId == "" {
			t.Errorf("promote without --dual-sign = %v", req)
		}
		k := decode[render.KeyView](t, out)
		if k.PrimaryVersion != 2 || k.DualSignVersion != 1 || k.DualSignUntil != "2030-01-01T00:00:00Z" {
			t.Errorf("promote = %+v", k)
		}

		// Inside the dual-sign window both versions sign.
		out, errOut, code = tc.kq(t, "-o", "json", "sign", "payments", "--digest", "0d")
		if code != 0 {
			t.Fatalf("dual sign: exit %d: %s", code, errOut)
		}
		want := []render.VersionSignatureView{{Version: 2, SignatureHex: "020d"}, {Version: 1, SignatureHex: "010d"}}
		if s := decode[render.SignView](t, out); s.Version != 2 || !slices.Equal(s.Signatures, want) {
			t.Errorf("dual sign = %+v", s)
		}
		for _, c := range []struct {
			flag string
			ms   uint64
		}{{"0", 0}, {"90s", 90000}} {
			if _, errOut, code := tc.kq(t, "key", "promote", "payments", "--dual-sign", c.flag); code != 0 {
				t.Fatalf("promote --dual-sign %s: exit %d: %s", c.flag, code, errOut)
			}
			if req := lastRequest[*kqpb.PromoteKeyRequest](t, tc.leader, "PromoteKey"); req.DualSignMs == nil || *req.DualSignMs != c.ms {
				t.Errorf("--dual-sign %s sent %v", c.flag, req.DualSignMs)
			}
		}

		for _, c := range []struct {
			cmd, method string
		}{
			{"rollback", "RollbackKey"}, {"retire", "RetireKeyVersion"}, {"revoke", "RevokeKeyVersion"},
			{"destroy", "DestroyKeyVersion"}, {"cancel-destroy", "CancelDestroyKeyVersion"}, {"refresh", "RefreshKey"},
		} {
			out, errOut, code := tc.kq(t, "key", c.cmd, "payments", "--version", "1", "--request-id", "lc-"+c.cmd)
			if code != 0 || !strings.Contains(out, "VERSION  STATE") {
				t.Errorf("%s: exit %d: %s%s", c.cmd, code, out, errOut)
				continue
			}
			if req := lastRequest[*kqpb.KeyVersionRequest](t, tc.leader, c.method); req.Key != "payments" || req.Version != 1 || req.RequestId != "lc-"+c.cmd {
				t.Errorf("%s request = %v", c.cmd, req)
			}
		}

		if _, errOut, code := tc.kq(t, "key", "policy", "payments", "--deletion-allowed=false"); code != 0 {
			t.Fatalf("policy: exit %d: %s", code, errOut)
		}
		pol := lastRequest[*kqpb.SetKeyPolicyRequest](t, tc.leader, "SetKeyPolicy")
		if pol.MinSignVersion != nil || pol.MinVerifyVersion != nil || pol.DeletionAllowed == nil || *pol.DeletionAllowed {
			t.Errorf("policy --deletion-allowed=false sent %v", pol)
		}
		if _, errOut, code := tc.kq(t, "key", "policy", "payments", "--min-sign-version", "2", "--min-verify-version", "0"); code != 0 {
			t.Fatalf("policy: exit %d: %s", code, errOut)
		}
		pol = lastRequest[*kqpb.SetKeyPolicyRequest](t, tc.leader, "SetKeyPolicy")
		if pol.GetMinSignVersion() != 2 || pol.MinVerifyVersion == nil || *pol.MinVerifyVersion != 0 || pol.DeletionAllowed != nil {
			t.Errorf("policy floors sent %v", pol)
		}
	})

	t.Run("bench signs with one handle and revokes it", func(t *testing.T) {
		out, errOut, code := tc.kq(t, "-o", "json", "bench", "--key", "orders", "--purpose", "refunds", "--requests", "3", "--duration", "5s")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if v := decode[render.BenchView](t, out); v.OK != 3 || v.Errors != 0 {
			t.Errorf("bench = %+v", v)
		}
		issued := lastRequest[*kqpb.IssueHandleRequest](t, tc.leader, "IssueHandle")
		if issued.Key != "orders" || issued.Purpose != "refunds" || issued.TtlMs != 65000 || issued.MaxUses != 0 {
			t.Errorf("handle request = %v", issued)
		}
		signed := lastRequest[*kqpb.SignRequest](t, tc.leader, "Sign")
		revoked := lastRequest[*kqpb.RevokeHandleRequest](t, tc.leader, "RevokeHandle")
		if !strings.HasPrefix(signed.Handle, "kqh_"+revoked.Handle+"_") || signed.Key != "orders" {
			t.Errorf("signed with %q, revoked %q", signed.Handle, revoked.Handle)
		}
	})

	t.Run("errors", func(t *testing.T) {
		_, errOut, code := tc.kq(t, "key", "get", "nope")
		if code != 1 || errOut != "kq: NotFound: key \"nope\" not found\n" {
			t.Errorf("not found: exit %d: %q", code, errOut)
		}
		_, errOut, code = tc.kq(t, "--node", "n1", "key", "list")
		if code != 1 || !strings.HasPrefix(errOut, "kq: Unavailable: ") {
			t.Errorf("pinned to down node: exit %d: %q", code, errOut)
		}
		for _, args := range [][]string{
			{"key", "create", "k"},                                 // missing --algorithm
			{"key", "create", "k", "--algorithm", "rsa"},           // bad algorithm
			{"sign", "k", "--digest", "zz"},                        // bad hex
			{"sign", "k", "--digest", "00", "extra"},               // extra argument
			{"-o", "yaml", "key", "list"},                          // bad output
			{"key", "list", "--bogus"},                             // unknown flag
			{"frobnicate"},                                         // unknown command
			{"--node", "n9", "key", "list"},                        // unknown node
			{"sign", "--digest", "00"},                             // neither key nor handle
			{"sign", "k", "--handle", "kqh_1_x", "--digest", "00"}, // both
			{"handle", "issue", "k", "--ttl", "0s"},                // no lifetime
			{"handle", "issue", "k", "--ttl", "1500us"},            // below milliseconds
			{"handle", "revoke"},                                   // nothing to revoke
			{"key", "destroy", "k"},                                // destroy names a version
			{"key", "cancel-destroy", "k"},                         // so does cancel
			{"key", "rotate", "k", "--version", "2"},               // rotate takes none
			{"key", "policy", "k"},                                 // nothing to change
			{"key", "promote", "k", "--dual-sign", "-1s"},          // negative window
			{"key", "promote", "k", "--dual-sign", "721h"},         // beyond the nodes' bound
			{"key", "policy", "k", "--deletion-allowed=maybe"},     // not a bool
			{"bench", "--key", "k", "--duration", "0s"},            // no run
		} {
			_, errOut, code := tc.kq(t, args...)
			if code != 2 || !strings.HasPrefix(errOut, "kq: ") {
				t.Errorf("%v: exit %d: %q", args, code, errOut)
			}
		}
	})
}

func TestStatusFailsWhenNoNodeAnswers(t *testing.T) {
	dir := t.TempDir()
	cfg := `cluster_id: kq-test
nodes:
  - {id: n1, raft: "127.0.0.1:1", peer: "127.0.0.1:2", client: "127.0.0.1:3"}
  - {id: n2, raft: "127.0.0.1:4", peer: "127.0.0.1:5", client: "127.0.0.1:6"}
`
	tc := testCluster{config: filepath.Join(dir, "cluster.yaml")}
	if err := os.WriteFile(tc.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := tc.kq(t, "status"); code != 1 || !strings.Contains(errOut, "certs init") {
		t.Fatalf("without certificates: exit %d: %q", code, errOut)
	}
	if _, _, code := tc.kq(t, "certs", "init"); code != 0 {
		t.Fatal("certs init failed")
	}
	out, errOut, code := tc.kq(t, "status")
	if code != 1 || !strings.Contains(out, "unreachable") || errOut != "kq: Unavailable: no node answered\n" {
		t.Fatalf("exit %d\n%s%q", code, out, errOut)
	}
	// A call fails over through both nodes and names each one's reason.
	_, errOut, code = tc.kq(t, "key", "list")
	if code != 1 || !strings.HasPrefix(errOut, "kq: Unavailable: no node answered: n1: Unavailable: ") ||
		!strings.Contains(errOut, "; n2: Unavailable: ") || !strings.Contains(errOut, "connection refused") ||
		!strings.HasSuffix(errOut, " (is the cluster up? `kq status` shows each node)\n") {
		t.Fatalf("key list: exit %d: %q", code, errOut)
	}
	// Pinned to one node, the node's own reason.
	_, errOut, code = tc.kq(t, "--node", "n2", "key", "list")
	if code != 1 || !strings.HasPrefix(errOut, "kq: Unavailable: ") || strings.Contains(errOut, "no node answered") ||
		!strings.Contains(errOut, "connection refused") {
		t.Fatalf("pinned: exit %d: %q", code, errOut)
	}
}
