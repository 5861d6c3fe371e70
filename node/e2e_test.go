package node_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/jepsen/testbin"
)

// binDir holds kqd and kq built once for the whole test binary, or built
// before it (testbin.Env).
var binDir string

// scratch holds the builds this test binary makes itself.
var scratch string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kq-bin-")
	if err != nil {
		panic(err)
	}
	scratch = dir
	if binDir = testbin.Dir(""); binDir == "" {
		binDir = filepath.Join(dir, "release")
		if err := testbin.Build(root(), binDir, ""); err != nil {
			panic(err)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// root is the repository's root directory.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// taggedBuilds holds kqd and kq built with a build tag, by tag: tests that
// need deliberate bugs or an older protocol build them once per binary.
var taggedBuilds sync.Map // tag -> *taggedBuild

type taggedBuild struct {
	once sync.Once
	dir  string
	err  error
}

// taggedBinDir returns the directory of kqd and kq built with the given
// build tag: the one built before the test binary (testbin.Env) when it
// holds that build, else one this binary builds once.
func taggedBinDir(t *testing.T, tag string) string {
	t.Helper()
	v, _ := taggedBuilds.LoadOrStore(tag, &taggedBuild{})
	b := v.(*taggedBuild)
	b.once.Do(func() {
		if dir := testbin.Dir(tag); dir != "" {
			b.dir = dir
			return
		}
		b.dir = filepath.Join(scratch, tag)
		b.err = testbin.Build(root(), b.dir, tag)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.dir
}

func fixturesDir(t *testing.T) string {
	return filepath.Join(root(), "tss", "testdata", "preparams")
}

func startCluster(t *testing.T, backend string, tune ...func(*cluster.Options)) *cluster.Cluster {
	t.Helper()
	opts := cluster.DefaultOptions(binDir, t.TempDir())
	opts.Backend = backend
	opts.FixturesDir = fixturesDir(t)
	opts.SignTimeout = 8 * time.Second
	for _, f := range tune {
		f(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := cluster.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			for _, id := range c.IDs() {
				if b, err := os.ReadFile(c.LogPath(id)); err == nil {
					t.Logf("---- %s log (tail) ----\n%s", id, tail(b, 4000))
				}
			}
		}
	})
	if err := c.WaitReady(ctx, true); err != nil {
		t.Fatal(err)
	}
	return c
}

// createKey creates a key and waits until it is active.
func createKey(ctx context.Context, t *testing.T, cl kqpb.KeyServiceClient, name string, alg kqpb.Algorithm) *kqpb.Key {
	t.Helper()
	req := &kqpb.CreateKeyRequest{Name: name, Algorithm: alg, RequestId: "create-" + name}
	return eventually(ctx, t, "create "+name, func(ctx context.Context) (*kqpb.Key, error) { return cl.CreateKey(ctx, req) })
}

// eventually makes a call until it returns an outcome. Under load a leader
// change, or a leader that cannot confirm its clock for a moment, leaves
// the outcome unknown (UNAVAILABLE, DEADLINE_EXCEEDED); the call's request
// id makes the retry safe, as it would for any client. Any other error
// fails the test.
func eventually[R any](ctx context.Context, t *testing.T, what string, call func(context.Context) (R, error)) R {
	t.Helper()
	var last error
	for ctx.Err() == nil {
		r, err := call(ctx)
		if err == nil {
			return r
		}
		if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
			t.Fatalf("%s: %v", what, err)
		}
		last = err
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, last)
	var zero R
	return zero
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// keyJSON is the `kq key get -o json` contract.
type keyJSON struct {
	Name         string `json:"name"`
	Algorithm    string `json:"algorithm"`
	Version      uint32 `json:"version"`
	Threshold    uint32 `json:"threshold"`
	PublicKeyPEM string `json:"public_key_pem"`
}

// signJSON is the `kq sign -o json` contract.
type signJSON struct {
	Key          string `json:"key"`
	Version      uint32 `json:"version"`
	SignatureHex string `json:"signature_hex"`
}

func kqJSON(t *testing.T, c *cluster.Cluster, v any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := c.KQ(ctx, append(args, "-o", "json")...)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("kq %v: %v: %s", args, err, out)
	}
}

// verifier checks signatures independently of keyquorum, from the PEM that
// `kq key get` prints.
type verifier func(msg, sig []byte) bool

func parseVerifier(t *testing.T, k keyJSON) verifier {
	t.Helper()
	block, _ := pem.Decode([]byte(k.PublicKeyPEM))
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("key %s: no PUBLIC KEY PEM: %q", k.Name, k.PublicKeyPEM)
	}
	switch k.Algorithm {
	case "ed25519":
		// The SPKI of an Ed25519 key ends with the 32-byte key.
		pub := ed25519.PublicKey(block.Bytes[len(block.Bytes)-32:])
		return func(msg, sig []byte) bool { return ed25519.Verify(pub, msg, sig) }
	case "ecdsa-secp256k1":
		// Uncompressed point at the end of the SPKI; the curve OID
		// 1.3.132.0.10 must be present.
		oid := []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a}
		if !bytesContains(block.Bytes, oid) {
			t.Fatalf("secp256k1 SPKI lacks the curve OID: %x", block.Bytes)
		}
		pub, err := secp256k1.ParsePubKey(block.Bytes[len(block.Bytes)-65:])
		if err != nil {
			t.Fatal(err)
		}
		return func(msg, sig []byte) bool {
			s, err := secpecdsa.ParseDERSignature(sig)
			if err != nil {
				return false
			}
			sv := s.S()
			if sv.IsOverHalfOrder() {
				return false // keyquorum promises low-s
			}
			return s.Verify(msg, pub)
		}
	}
	t.Fatalf("unknown algorithm %q", k.Algorithm)
	return nil
}

func bytesContains(b, sub []byte) bool {
	for i := 0; i+len(sub) <= len(b); i++ {
		if slices.Equal(b[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// signOK signs through the CLI and verifies independently.
func signOK(t *testing.T, c *cluster.Cluster, k keyJSON, v verifier, msg []byte) {
	t.Helper()
	var s signJSON
	kqJSON(t, c, &s, "sign", k.Name, "--digest", hex.EncodeToString(msg))
	sig, err := hex.DecodeString(s.SignatureHex)
	if err != nil || s.Key != k.Name || s.Version != k.Version {
		t.Fatalf("sign output %+v: %v", s, err)
	}
	if !v(msg, sig) {
		t.Fatalf("signature by %s does not verify independently", k.Name)
	}
}

func digest(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }

// TestClusterSignsAndSurvivesCrashes is the end-to-end slice: three kqd
// processes with swtpm, ECDSA and Ed25519 keys made by DKG, signatures
// checked by independent verifiers, and kill -9 of the leader, of a second
// node, and of all nodes.
func TestClusterSignsAndSurvivesCrashes(t *testing.T) {
	c := startCluster(t, "swtpm")
	keys := map[string]keyJSON{}
	verifiers := map[string]verifier{}
	msgs := map[string][]byte{"ec": digest("hello"), "ed": []byte("\x00hello, ed25519")}
	for name, alg := range map[string]string{"ec": "ecdsa-secp256k1", "ed": "ed25519"} {
		start := time.Now()
		var k keyJSON
		kqJSON(t, c, &k, "key", "create", name, "--algorithm", alg)
		t.Logf("keygen %s: %s", alg, time.Since(start).Round(time.Millisecond))
		kqJSON(t, c, &k, "key", "get", name)
		if k.Name != name || k.Algorithm != alg || k.Version != 1 || k.Threshold != 1 {
			t.Fatalf("key get %s: %+v", name, k)
		}
		keys[name], verifiers[name] = k, parseVerifier(t, k)
		signOK(t, c, k, verifiers[name], msgs[name])
	}

	signAll := func(stage string) {
		t.Helper()
		for name := range keys {
			msg := []byte(stage)
			if name == "ec" {
				msg = digest(stage)
			}
			signOK(t, c, keys[name], verifiers[name], msg)
		}
	}

	// The leader goes first: followers must ride out the election.
	first := leaderOf(context.Background(), t, c)
	c.Kill(first)
	signAll("one node down")

	var second, survivor string
	for _, id := range c.IDs() {
		switch {
		case id == first:
		case second == "":
			second = id
		default:
			survivor = id
		}
	}
	c.Kill(second)
	cl, err := testClient(c, survivor)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	start := time.Now()
	_, err = cl.Sign(ctx, &kqpb.SignRequest{Key: "ec", Digest: digest("quorum lost")})
	cancel()
	if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
		t.Fatalf("sign without quorum: got %v, want UNAVAILABLE or DEADLINE_EXCEEDED", err)
	}
	if el := time.Since(start); el > 12*time.Second {
		t.Fatalf("sign without quorum took %s, past its 10s deadline", el)
	}

	for _, id := range []string{first, second} {
		if err := c.StartNode(id); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, c)
	signAll("restarted two")
	samePublicKeys(t, c, keys)

	for _, id := range c.IDs() {
		c.Kill(id)
	}
	for _, id := range c.IDs() {
		if err := c.StartNode(id); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, c)
	signAll("restarted all")
	samePublicKeys(t, c, keys)
}

func waitReady(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx, false); err != nil {
		t.Fatal(err)
	}
}

func samePublicKeys(t *testing.T, c *cluster.Cluster, keys map[string]keyJSON) {
	t.Helper()
	for name, want := range keys {
		var got keyJSON
		kqJSON(t, c, &got, "key", "get", name)
		if got.PublicKeyPEM != want.PublicKeyPEM {
			t.Fatalf("public key of %s changed across restarts", name)
		}
	}
}
