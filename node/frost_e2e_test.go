package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/tss/frost"
)

// frostSigner signs through the cluster with one Ed25519 key and checks
// every signature: it verifies with crypto/ed25519, its R (the first 32
// bytes, the group commitment) was never seen before, and a FROST answer's
// commitments were never seen before and make that R.
type frostSigner struct {
	t           *testing.T
	cl          kqpb.KeyServiceClient
	pub         ed25519.PublicKey
	rs          map[string]string // R -> request id
	commitments map[string]string // FROST commitment -> request id
	frost       int               // signatures that came from FROST
	// noCommitments skips checkCommitments, for a baseline build from
	// before SignResponse.frost_commitments (TestBenchClusterFrost).
	noCommitments bool
}

func newFrostSigner(ctx context.Context, t *testing.T, c *cluster.Cluster) *frostSigner {
	t.Helper()
	cl := mustTestClient(t, c, "n1")
	k := createKey(ctx, t, cl, "ed", kqpb.Algorithm_ED25519)
	if len(k.PublicKey) != ed25519.PublicKeySize {
		t.Fatalf("public key is %d bytes", len(k.PublicKey))
	}
	return &frostSigner{t: t, cl: cl, pub: k.PublicKey, rs: map[string]string{}, commitments: map[string]string{}}
}

func (s *frostSigner) sign(ctx context.Context, id string, msg []byte) *kqpb.SignResponse {
	s.t.Helper()
	resp := signEventually(ctx, s.t, s.cl, &kqpb.SignRequest{Key: "ed", Digest: msg, RequestId: id})
	if !ed25519.Verify(s.pub, msg, resp.Signature) {
		s.t.Fatalf("%s: signature does not verify with crypto/ed25519", id)
	}
	r := hex.EncodeToString(resp.Signature[:32])
	if other, dup := s.rs[r]; dup && other != id {
		s.t.Fatalf("nonce reuse: requests %s and %s share R", other, id)
	}
	s.rs[r] = id
	if resp.Frost {
		s.frost++
		if !s.noCommitments {
			s.checkCommitments(id, msg, resp)
		}
	}
	return resp
}

// checkCommitments checks the nonce commitments a FROST answer reports:
// one per committee member, each never reported before, and together
// they make the signature's R.
func (s *frostSigner) checkCommitments(id string, msg []byte, resp *kqpb.SignResponse) {
	s.t.Helper()
	if len(resp.FrostCommitments) != len(resp.Committee) {
		s.t.Fatalf("%s: %d FROST commitments for a committee of %d", id, len(resp.FrostCommitments), len(resp.Committee))
	}
	var list []frost.Commitment
	for _, b := range resp.FrostCommitments {
		c, err := frost.ParseCommitment(b)
		if err != nil {
			s.t.Fatalf("%s: %v", id, err)
		}
		if other, dup := s.commitments[string(b)]; dup {
			s.t.Fatalf("nonce commitment reuse: requests %s and %s", other, id)
		}
		s.commitments[string(b)] = id
		list = append(list, c)
	}
	r, err := frost.GroupCommitment(s.pub, msg, list)
	if err != nil || !bytes.Equal(r, resp.Signature[:32]) {
		s.t.Fatalf("%s: the reported commitments do not make R (%v)", id, err)
	}
}

// warm signs until a signature comes from FROST: the cluster first raises
// its protocol and the members publish their first commitments.
func (s *frostSigner) warm(ctx context.Context) {
	s.t.Helper()
	for i := 0; ctx.Err() == nil; i++ {
		if s.sign(ctx, fmt.Sprintf("warm-%d", i), []byte(fmt.Sprintf("warm %d", i))).Frost {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatal("no signature came from FROST")
}

func randomMessage(t *testing.T) []byte {
	n, err := rand.Int(rand.Reader, big.NewInt(1024))
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, n.Int64()+1)
	_, _ = rand.Read(msg)
	return msg
}

// TestFrostSignsRandomMessagesThroughTheCluster signs 240 random messages
// (1-1024 bytes) with a 2-of-3 Ed25519 key on real processes, FROST on,
// verifies each with crypto/ed25519 and a sample with openssl, and checks
// that no two share R.
func TestFrostSignsRandomMessagesThroughTheCluster(t *testing.T) {
	c := startCluster(t, "swtpm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := newFrostSigner(ctx, t, c)
	s.warm(ctx)
	const total = 240
	var samples []signedSample
	start, frostBefore := time.Now(), s.frost
	for i := range total {
		msg := randomMessage(t)
		resp := s.sign(ctx, fmt.Sprintf("r-%d", i), msg)
		if i%24 == 0 {
			samples = append(samples, signedSample{msg, resp.Signature})
		}
	}
	fromFrost := s.frost - frostBefore
	t.Logf("%d signatures in %s, %d from FROST, all verify, all R distinct", total, time.Since(start).Round(time.Millisecond), fromFrost)
	if fromFrost < total*9/10 {
		t.Fatalf("only %d of %d signatures came from FROST: the pool does not keep up", fromFrost, total)
	}
	opensslVerifyEd25519(t, s.pub, samples)
}

// signedSample is a message and its Ed25519 signature.
type signedSample struct{ msg, sig []byte }

// opensslVerifyEd25519 has openssl verify each sample under pub: software
// nobody here wrote accepting the signatures. Without openssl on PATH it
// says so and checks nothing (make deps installs it).
func opensslVerifyEd25519(t *testing.T, pub ed25519.PublicKey, samples []signedSample) {
	t.Helper()
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Log("openssl not on PATH: samples not cross-checked")
		return
	}
	dir := t.TempDir()
	pubPath := filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(pubPath, []byte(ed25519PEM(pub)), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, sm := range samples {
		mp, sp := filepath.Join(dir, fmt.Sprintf("m%d", i)), filepath.Join(dir, fmt.Sprintf("s%d", i))
		_ = os.WriteFile(mp, sm.msg, 0o600)
		_ = os.WriteFile(sp, sm.sig, 0o600)
		out, err := exec.Command(bin, "pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin", "-in", mp, "-sigfile", sp).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl refuses sample %d: %v: %s", i, err, out)
		}
	}
	t.Logf("openssl verified %d samples", len(samples))
}

// ed25519PEM is the SubjectPublicKeyInfo PEM of an Ed25519 key (RFC 8410).
func ed25519PEM(pub ed25519.PublicKey) string {
	der := append([]byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}, pub...)
	return "-----BEGIN PUBLIC KEY-----\n" + base64.StdEncoding.EncodeToString(der) + "\n-----END PUBLIC KEY-----\n"
}

// TestFrostNoRepeatedRAcrossMemberRestarts kills each member in turn, with
// signatures in flight and commitments published, restarts it, and keeps
// signing: the restarted member's old commitments die with its process
// (NodeBooted), so no R ever repeats and every signature verifies.
func TestFrostNoRepeatedRAcrossMemberRestarts(t *testing.T) {
	c := startCluster(t, "swtpm", func(o *cluster.Options) { o.SignTimeout = 5 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	s := newFrostSigner(ctx, t, c)
	s.warm(ctx)
	for round, victim := range c.IDs() {
		for i := range 10 {
			s.sign(ctx, fmt.Sprintf("before-%d-%d", round, i), randomMessage(t))
		}
		done := make(chan struct{})
		go func() { // a request in flight as the member dies
			defer close(done)
			cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
			defer ccancel()
			_, _ = s.cl.Sign(cctx, &kqpb.SignRequest{Key: "ed", Digest: []byte(fmt.Sprintf("inflight %d", round)), RequestId: fmt.Sprintf("inflight-%d", round)})
		}()
		time.Sleep(5 * time.Millisecond)
		c.Kill(victim)
		<-done
		if err := c.StartNode(victim); err != nil {
			t.Fatal(err)
		}
		waitReady(t, c)
		// The client keeps its connection (and handle) to n1: gRPC
		// reconnects once n1 is back, and signEventually retries meanwhile.
		s.sign(ctx, fmt.Sprintf("inflight-%d", round), []byte(fmt.Sprintf("inflight %d", round)))
		for i := range 20 {
			s.sign(ctx, fmt.Sprintf("after-%d-%d", round, i), randomMessage(t))
		}
	}
	t.Logf("%d signatures across %d restarts, %d from FROST, all R distinct", len(s.rs), len(c.IDs()), s.frost)
	if s.frost == 0 {
		t.Fatal("no signature came from FROST")
	}
}
