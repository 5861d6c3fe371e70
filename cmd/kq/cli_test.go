package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/pki"
)

// fakeNode answers KeyService and OperatorService from memory, and insists
// that the caller is the cluster's admin client.
type fakeNode struct {
	kqpb.UnimplementedKeyServiceServer
	kqpb.UnimplementedOperatorServiceServer
	id    string
	state string

	mu   sync.Mutex
	keys map[string]*kqpb.Key
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

func (f *fakeNode) CreateKey(ctx context.Context, r *kqpb.CreateKeyRequest) (*kqpb.Key, error) {
	if err := f.caller(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := &kqpb.Key{Name: r.Name, Algorithm: r.Algorithm, Version: 1, Threshold: max(r.Threshold, 1),
		Members: []string{"n1", "n2", "n3"}, Confirmed: []string{"n1", "n2", "n3"},
		State: kqpb.KeyState_KEY_STATE_ACTIVE, PublicKey: []byte{2, 3}, PublicKeyPem: "PEM\n",
		Failure: "request " + r.RequestId}
	f.keys[r.Name] = k
	return k, nil
}

func (f *fakeNode) GetKey(ctx context.Context, r *kqpb.GetKeyRequest) (*kqpb.Key, error) {
	if err := f.caller(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[r.Name]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "key %q not found", r.Name)
	}
	return k, nil
}

func (f *fakeNode) ListKeys(ctx context.Context, _ *kqpb.ListKeysRequest) (*kqpb.ListKeysResponse, error) {
	if err := f.caller(ctx); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r := &kqpb.ListKeysResponse{}
	for _, k := range f.keys {
		r.Keys = append(r.Keys, k)
	}
	return r, nil
}

func (f *fakeNode) Sign(ctx context.Context, r *kqpb.SignRequest) (*kqpb.SignResponse, error) {
	if err := f.caller(ctx); err != nil {
		return nil, err
	}
	return &kqpb.SignResponse{Key: r.Key, Version: 1, Signature: append([]byte{0x5}, r.Digest...), Committee: []string{"n2", "n3"}, RequestId: r.RequestId, Index: 7}, nil
}

func (f *fakeNode) Verify(ctx context.Context, r *kqpb.VerifyRequest) (*kqpb.VerifyResponse, error) {
	if err := f.caller(ctx); err != nil {
		return nil, err
	}
	return &kqpb.VerifyResponse{Valid: bytes.Equal(r.Signature, append([]byte{0x5}, r.Digest...)), Version: 1}, nil
}

func (f *fakeNode) Status(ctx context.Context, _ *kqpb.StatusRequest) (*kqpb.StatusResponse, error) {
	if err := f.caller(ctx); err != nil {
		return nil, err
	}
	return &kqpb.StatusResponse{ClusterId: "kq-test", NodeId: f.id, State: f.state, LeaderId: "n2", Term: 4, CommitIndex: 11, AppliedIndex: 11, Preparams: "ready", Keys: 1}, nil
}

type testCluster struct {
	config string
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
		f := &fakeNode{id: id, state: state, keys: keys}
		if id == "n3" {
			f.keys = map[string]*kqpb.Key{}
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
		v := decode[statusView](t, out)
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
		k := decode[keyView](t, out)
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
		if l := decode[keyListView](t, out); len(l.Keys) != 1 {
			t.Errorf("list: %s", out)
		}
	})

	t.Run("sign and verify", func(t *testing.T) {
		out, errOut, code := tc.kq(t, "-o", "json", "sign", "payments", "--digest", "0a0b", "--request-id", "s-1")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		s := decode[signView](t, out)
		if s.SignatureHex != "050a0b" || s.RequestID != "s-1" || s.Index != 7 || strings.Join(s.Committee, ",") != "n2,n3" {
			t.Errorf("sign = %+v", s)
		}
		out, _, code = tc.kq(t, "-o", "json", "verify", "payments", "--digest", "0a0b", "--signature", s.SignatureHex)
		if v := decode[verifyView](t, out); code != 0 || !v.Valid || v.Key != "payments" {
			t.Errorf("verify good: exit %d: %s", code, out)
		}
		out, _, code = tc.kq(t, "-o", "json", "verify", "payments", "--digest", "0a0b", "--signature", "00")
		if v := decode[verifyView](t, out); code != 1 || v.Valid {
			t.Errorf("verify bad: exit %d: %s", code, out)
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
			{"key", "create", "k"},                       // missing --algorithm
			{"key", "create", "k", "--algorithm", "rsa"}, // bad algorithm
			{"sign", "k", "--digest", "zz"},              // bad hex
			{"sign", "k", "--digest", "00", "extra"},     // extra argument
			{"-o", "yaml", "key", "list"},                // bad output
			{"key", "list", "--bogus"},                   // unknown flag
			{"frobnicate"},                               // unknown command
			{"--node", "n9", "key", "list"},              // unknown node
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
}
