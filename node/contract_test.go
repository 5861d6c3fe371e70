package node_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/sealing"
)

// TestClusterContract checks, on one running cluster, that bad input is
// refused with a precise status and no state change, and that no share or
// pre-param byte reaches a file or a log, nor a signed message a log.
func TestClusterContract(t *testing.T) {
	c := startCluster(t, "swtpm")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := testClient(c, "n2") // a follower or the leader: both must behave the same
	if err != nil {
		t.Fatal(err)
	}
	for name, alg := range map[string]kqpb.Algorithm{"ec": kqpb.Algorithm_ECDSA_SECP256K1, "ed": kqpb.Algorithm_ED25519} {
		createKey(ctx, t, cl, name, alg)
	}
	// A marker the signed messages carry: it must not show up anywhere either.
	marker := []byte("kq-marker-7f3a9c")
	for i := range 3 {
		signEventually(ctx, t, cl, &kqpb.SignRequest{Key: "ed", Digest: append(marker, byte(i)), RequestId: fmt.Sprintf("marker-ed-%d", i)})
		signEventually(ctx, t, cl, &kqpb.SignRequest{Key: "ec", Digest: digest(string(marker) + string(rune(i))), RequestId: fmt.Sprintf("marker-ec-%d", i)})
	}

	t.Run("BadInputChangesNothing", func(t *testing.T) { badInput(ctx, t, c, cl) })
	t.Run("IdempotentSign", func(t *testing.T) { idempotentSign(ctx, t, cl) })

	for _, id := range c.IDs() {
		c.StopNode(id) // swtpm keeps running, so the test can open the shares
	}
	// Handle tokens are bearer secrets: only their SHA-256 may be stored.
	var tokens [][]byte
	for _, tok := range cl.(*handleClient).handles {
		tokens = append(tokens, []byte(tok), []byte(tokenSecret(tok)))
	}
	if len(tokens) != 4 {
		t.Fatalf("expected handles for both keys, have %d tokens", len(tokens))
	}
	t.Run("NoSecretsOnDiskOrInLogs", func(t *testing.T) { noSecrets(ctx, t, c, marker, tokens) })
}

func badInput(ctx context.Context, t *testing.T, c *cluster.Cluster, cl kqpb.KeyServiceClient) {
	before, err := cl.ListKeys(ctx, &kqpb.ListKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		call func() error
		want codes.Code
	}{
		{"ecdsa digest of 20 bytes", func() error {
			_, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "ec", Digest: make([]byte, 20)})
			return err
		}, codes.InvalidArgument},
		{"ecdsa digest above the group order", func() error {
			_, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "ec", Digest: bytes.Repeat([]byte{0xff}, 32)})
			return err
		}, codes.InvalidArgument},
		{"empty ed25519 message", func() error {
			_, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "ed", Digest: nil})
			return err
		}, codes.InvalidArgument},
		{"ed25519 message over 1 KiB", func() error {
			_, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "ed", Digest: make([]byte, 1025)})
			return err
		}, codes.InvalidArgument},
		{"unknown key", func() error {
			_, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "nope", Digest: digest("x")})
			return err
		}, codes.NotFound},
		{"unknown key get", func() error {
			_, err := cl.GetKey(ctx, &kqpb.GetKeyRequest{Name: "nope"})
			return err
		}, codes.NotFound},
		{"bad key name", func() error {
			_, err := cl.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "../etc", Algorithm: kqpb.Algorithm_ED25519})
			return err
		}, codes.InvalidArgument},
		{"unknown algorithm", func() error {
			_, err := cl.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "k1", Algorithm: kqpb.Algorithm(42)})
			return err
		}, codes.InvalidArgument},
		{"unspecified algorithm", func() error {
			_, err := cl.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "k1"})
			return err
		}, codes.InvalidArgument},
		{"threshold equal to n", func() error {
			_, err := cl.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "k1", Algorithm: kqpb.Algorithm_ED25519, Threshold: 3})
			return err
		}, codes.InvalidArgument},
		{"existing name", func() error {
			_, err := cl.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "ed", Algorithm: kqpb.Algorithm_ED25519, RequestId: "other"})
			return err
		}, codes.AlreadyExists},
		{"oversized request", func() error {
			_, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "ed", Digest: make([]byte, 1<<20)})
			return err
		}, codes.ResourceExhausted},
		{"request id too long", func() error {
			_, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "ed", Digest: []byte("x"), RequestId: strings.Repeat("r", 200)})
			return err
		}, codes.InvalidArgument},
		{"verify with unknown version", func() error {
			_, err := cl.Verify(ctx, &kqpb.VerifyRequest{Key: "ed", Version: 9, Digest: []byte("x"), Signature: make([]byte, 64)})
			return err
		}, codes.NotFound},
	}
	for _, tc := range cases {
		err := tc.call()
		if got := status.Code(err); got != tc.want {
			t.Errorf("%s: got %v (%v), want %v", tc.name, got, err, tc.want)
		}
	}
	after, err := cl.ListKeys(ctx, &kqpb.ListKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Keys) != len(before.Keys) {
		t.Fatalf("bad input changed the key set: %d keys before, %d after", len(before.Keys), len(after.Keys))
	}
	for i := range after.Keys {
		if after.Keys[i].Name != before.Keys[i].Name || after.Keys[i].State != before.Keys[i].State {
			t.Fatalf("bad input changed key %s", after.Keys[i].Name)
		}
	}
}

// idempotentSign: the same request id and digest return the same signature
// bytes (not a fresh signature); another digest under that id is refused.
func idempotentSign(ctx context.Context, t *testing.T, cl kqpb.KeyServiceClient) {
	req := &kqpb.SignRequest{Key: "ec", Digest: digest("once"), RequestId: "idem-1"}
	first := signEventually(ctx, t, cl, req)
	again, err := cl.Sign(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Signature, again.Signature) || first.Index != again.Index {
		t.Fatalf("retry of request idem-1 produced a different outcome")
	}
	_, err = cl.Sign(ctx, &kqpb.SignRequest{Key: "ec", Digest: digest("twice"), RequestId: "idem-1"})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("reused request id with another digest: got %v, want AlreadyExists", err)
	}
	v, err := cl.Verify(ctx, &kqpb.VerifyRequest{Key: "ec", Digest: digest("once"), Signature: first.Signature})
	if err != nil || !v.Valid {
		t.Fatalf("Verify of a fresh signature: %v %v", v, err)
	}
	v, err = cl.Verify(ctx, &kqpb.VerifyRequest{Key: "ec", Digest: digest("twice"), Signature: first.Signature})
	if err != nil || v.Valid {
		t.Fatalf("Verify accepted a signature over another digest: %v %v", v, err)
	}
}

// eachFile calls fn with the path and contents of every file under root
// and returns how many there were.
func eachFile(t *testing.T, root string, fn func(path string, data []byte)) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		fn(path, data)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// noSecrets opens every node's sealed shares with its own TPM, takes the
// secret scalar out of each, and scans every file of the cluster (data
// directories, swtpm state, logs) for it in several encodings, and for the
// pre-params' primes; and the logs for the signed marker.
func noSecrets(ctx context.Context, t *testing.T, c *cluster.Cluster, marker []byte, tokens [][]byte) {
	secrets := slices.Clone(tokens)
	for _, id := range c.IDs() {
		tpm, err := sealing.OpenTPM(ctx, sealingConfig(c, id), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"ec", "ed"} {
			blob, err := os.ReadFile(filepath.Join(c.DataDir(), id, "shares", key, "v1.sealed"))
			if err != nil {
				t.Fatal(err)
			}
			b := sealing.Binding{ClusterID: "kq-test", NodeID: id, Kind: sealing.KindShare, KeyID: key, Version: 1}
			plain, err := tpm.Open(ctx, b, blob)
			if err != nil {
				t.Fatalf("open %s's share of %s: %v", id, key, err)
			}
			secrets = append(secrets, encodings(secretScalar(t, plain))...)
			secrets = append(secrets, plain)

			// The blob is bound to its key and node: moved elsewhere it
			// does not open, and the error names where it was expected.
			other := b
			other.KeyID = map[string]string{"ec": "ed", "ed": "ec"}[key]
			if _, err := tpm.Open(ctx, other, blob); !errors.Is(err, sealing.ErrBindingMismatch) || !strings.Contains(err.Error(), "key="+other.KeyID) {
				t.Fatalf("share of %s opened as %s: %v", key, other.KeyID, err)
			}
			other = b
			other.NodeID = "n9"
			if _, err := tpm.Open(ctx, other, blob); !errors.Is(err, sealing.ErrBindingMismatch) {
				t.Fatalf("share of %s on %s opened for another node: %v", key, id, err)
			}
		}
		tpm.Close()
		secrets = append(secrets, fixturePrimes(t, id)...)
	}
	scanned := eachFile(t, filepath.Dir(c.DataDir()), func(path string, data []byte) {
		for i, s := range secrets {
			if bytes.Contains(data, s) {
				t.Errorf("secret #%d (%d bytes) found in %s", i, len(s), path)
			}
		}
	})
	// The raft log must carry the message to the committee; logs must not.
	leaks := append([][]byte{marker, []byte(hex.EncodeToString(marker)), []byte(base64.StdEncoding.EncodeToString(marker)[:20])}, tokens...)
	logs, err := os.ReadDir(c.LogsDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range logs {
		data, err := os.ReadFile(filepath.Join(c.LogsDir(), l.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range leaks {
			if bytes.Contains(data, s) {
				t.Errorf("signed message %q found in log %s", s, l.Name())
			}
		}
	}
	if scanned < 10 {
		t.Fatalf("scanned only %d files", scanned)
	}
	t.Logf("scanned %d files for %d secret encodings", scanned, len(secrets))
}

func sealingConfig(c *cluster.Cluster, id string) sealing.Config {
	cfg := sealing.DefaultConfig(filepath.Join(c.DataDir(), id, "tpm"))
	cfg.Backend = sealing.BackendSWTPM
	cfg.Address = c.TPMAddress(id)
	return cfg
}

// secretScalar pulls the share's secret Xi out of its encoding.
func secretScalar(t *testing.T, plain []byte) *big.Int {
	var f struct {
		ECDSA *struct{ Xi *big.Int } `json:"ecdsa"`
		EdDSA *struct{ Xi *big.Int } `json:"eddsa"`
	}
	if err := json.Unmarshal(plain, &f); err != nil {
		t.Fatal(err)
	}
	switch {
	case f.ECDSA != nil && f.ECDSA.Xi != nil:
		return f.ECDSA.Xi
	case f.EdDSA != nil && f.EdDSA.Xi != nil:
		return f.EdDSA.Xi
	}
	t.Fatal("no secret scalar in the share encoding")
	return nil
}

// encodings returns the ways a leaked number would most likely be written.
func encodings(x *big.Int) [][]byte {
	fixed := make([]byte, 32)
	x.FillBytes(fixed)
	return [][]byte{fixed, []byte(x.String()), []byte(hex.EncodeToString(fixed)), []byte(x.Text(16))}
}

// fixturePrimes returns the Paillier primes of a node's pre-params fixture;
// the fixture lives outside the cluster's directories, so any copy inside
// them is a leak.
func fixturePrimes(t *testing.T, id string) [][]byte {
	data, err := os.ReadFile(filepath.Join(fixturesDir(t), id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Pre struct{ P, Q *big.Int } `json:"pre"`
	}
	if err := json.Unmarshal(data, &f); err != nil || f.Pre.P == nil {
		t.Fatalf("fixture %s: %v", id, err)
	}
	return [][]byte{[]byte(f.Pre.P.String()), []byte(f.Pre.Q.String()), f.Pre.P.Bytes(), f.Pre.Q.Bytes()}
}
