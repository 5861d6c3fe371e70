package client_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/client"
)

// TestEthereumSenderByGoEthereum is the Ethereum proof: go-ethereum builds
// an EIP-1559 transaction and says which hash to sign, the threshold key
// signs it through SignRecoverable, and go-ethereum's types.Sender recovers
// the sender, which must be the address go-ethereum derives from the key's
// public key. The checker, api/examples/eth, is its own module so that
// go-ethereum stays out of keyquorum's dependencies; it is built here
// without cgo (go-ethereum then recovers with the pure-Go secp256k1).
func TestEthereumSenderByGoEthereum(t *testing.T) {
	s := signer(t, "ec")
	pub := s.Public().(client.Secp256k1PublicKey).SerializeUncompressed()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "ethproof")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	build.Dir = filepath.Join(repoRoot(), "api", "examples", "eth")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the go-ethereum checker (make deps downloads its modules): %v\n%s", err, out)
	}
	ethproof := func(args ...string) map[string]any {
		t.Helper()
		out, err := exec.CommandContext(ctx, bin, args...).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("ethproof %v: %v\n%s", args, err, stderr)
		}
		var r map[string]any
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("ethproof %v: %v: %s", args, err, out)
		}
		return r
	}

	sigHash, err := hex.DecodeString(ethproof("hash")["sighash"].(string))
	if err != nil || len(sigHash) != 32 {
		t.Fatalf("sighash %x: %v", sigHash, err)
	}
	sig, err := s.SignRecoverable(sigHash)
	if err != nil {
		t.Fatal(err)
	}
	r := ethproof("sender", "-sig", hex.EncodeToString(sig), "-pub", hex.EncodeToString(pub))
	t.Logf("signed transaction: 0x%s", r["raw"])
	if r["valid"] != true {
		t.Fatalf("types.Sender says %s signed, the key's address is %s", r["sender"], r["address"])
	}

	// The check can fail: with s changed, the signature recovers another
	// public key, so another sender.
	sig[63] ^= 1
	if r := ethproof("sender", "-sig", hex.EncodeToString(sig), "-pub", hex.EncodeToString(pub)); r["valid"] == true {
		t.Fatal("a corrupted signature still recovers the key's address")
	}
}
