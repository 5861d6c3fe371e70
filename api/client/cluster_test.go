package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/client"
	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/jepsen/testbin"
)

// The consumer proofs share one real cluster: three kqd processes on the
// embedded TPM simulator with the pre-params fixtures, started by the first
// test that needs it and stopped after the last.
var shared struct {
	once    sync.Once
	binDir  string // kqd and kq: prebuilt (testbin.Env) or built into tmpBin
	tmpBin  string // removed after the tests; empty when prebuilt
	dir     string
	c       *cluster.Cluster
	cfg     client.Config
	client  *client.Client
	ed, ec  *kqpb.Key
	failure error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.client != nil {
		shared.client.Close()
	}
	if shared.c != nil {
		shared.c.Stop()
		if code != 0 {
			for _, id := range shared.c.IDs() {
				if b, err := os.ReadFile(shared.c.LogPath(id)); err == nil {
					fmt.Fprintf(os.Stderr, "---- %s log (tail) ----\n%s\n", id, tail(b, 3000))
				}
			}
		}
	}
	for _, d := range []string{shared.tmpBin, shared.dir} {
		if d != "" {
			os.RemoveAll(d)
		}
	}
	os.Exit(code)
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// testCluster returns the shared cluster's client, with an Ed25519 key "ed"
// and a secp256k1 key "ec", starting it on first use. In -short mode the
// proofs are skipped.
func testCluster(t *testing.T) *client.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a 3-node cluster")
	}
	shared.once.Do(func() { shared.failure = startShared() })
	if shared.failure != nil {
		t.Fatal(shared.failure)
	}
	return shared.client
}

func startShared() error {
	var err error
	if shared.binDir = testbin.Dir(""); shared.binDir == "" {
		if shared.tmpBin, err = os.MkdirTemp("", "kq-bin-"); err != nil {
			return err
		}
		shared.binDir = shared.tmpBin
		if err := testbin.Build(repoRoot(), shared.binDir, ""); err != nil {
			return err
		}
	}
	if shared.dir, err = os.MkdirTemp("", "kq-client-"); err != nil {
		return err
	}
	opts := cluster.DefaultOptions(shared.binDir, shared.dir)
	opts.Backend = "simulator"
	opts.FixturesDir = filepath.Join(repoRoot(), "tss", "testdata", "preparams")
	opts.SignTimeout = 8 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a loaded machine
	defer cancel()
	if shared.c, err = cluster.Start(ctx, opts); err != nil {
		return err
	}
	if err := shared.c.WaitReady(ctx, true); err != nil {
		return err
	}
	st, err := shared.c.Status(ctx, shared.c.IDs()[0])
	if err != nil {
		return err
	}
	certs := filepath.Join(shared.c.DataDir(), "certs")
	cfg := client.Config{}
	for _, m := range st.GetMembers() {
		cfg.Endpoints = append(cfg.Endpoints, m.GetClientAddress())
	}
	for _, f := range []struct {
		dst  *[]byte
		name string
	}{{&cfg.CA, "ca.pem"}, {&cfg.Cert, "client.pem"}, {&cfg.Key, "client.key"}} {
		if *f.dst, err = os.ReadFile(filepath.Join(certs, f.name)); err != nil {
			return err
		}
	}
	shared.cfg = cfg
	if shared.client, err = client.Dial(ctx, cfg); err != nil {
		return err
	}
	if shared.ed, err = createActive(ctx, shared.client, "ed", kqpb.Algorithm_ED25519); err != nil {
		return err
	}
	shared.ec, err = createActive(ctx, shared.client, "ec", kqpb.Algorithm_ECDSA_SECP256K1)
	return err
}

// createActive creates a key through the client, which retries a lost
// answer under the same request id, and checks it came out active.
func createActive(ctx context.Context, c *client.Client, name string, alg kqpb.Algorithm) (*kqpb.Key, error) {
	k, err := c.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: name, Algorithm: alg})
	if err != nil {
		return nil, err
	}
	if k.GetState() != kqpb.KeyState_KEY_STATE_ACTIVE {
		return nil, errors.New("key " + name + " is " + k.GetState().String() + ": " + k.GetFailure())
	}
	return k, nil
}

// signer issues a handle for key and returns a Signer under it.
func signer(t *testing.T, key string) *client.Signer {
	t.Helper()
	c := testCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := c.IssueSigner(ctx, client.HandleRequest{Key: key, TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
