package frost_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestOpenSSLVerifies has OpenSSL, an independent Ed25519 implementation,
// verify a sample of FROST signatures, and refuse one with a flipped bit.
// It is skipped where openssl is not installed.
func TestOpenSSLVerifies(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not on PATH")
	}
	d := deal(t, 3, 5, true)
	dir := t.TempDir()
	der, err := x509.MarshalPKIXPublicKey(ed25519.PublicKey(d.Public))
	if err != nil {
		t.Fatal(err)
	}
	pubPath := filepath.Join(dir, "pub.pem")
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	verify := func(name string, msg, sig []byte) error {
		msgPath, sigPath := filepath.Join(dir, name+".msg"), filepath.Join(dir, name+".sig")
		if err := os.WriteFile(msgPath, msg, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(sigPath, sig, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(bin, "pkeyutl", "-verify", "-pubin", "-inkey", pubPath, "-rawin",
			"-in", msgPath, "-sigfile", sigPath).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%w: %s", err, out)
		}
		return nil
	}
	for i, signers := range [][]int{{0, 1, 2}, {1, 3, 4}, {0, 2, 4}, {0, 1, 2, 3, 4}} {
		msg := fmt.Appendf(nil, "openssl sample %d", i)
		sig, err := signAll(t, d, signers, msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := verify(fmt.Sprint(i), msg, sig); err != nil {
			t.Fatalf("signers %v: openssl rejects the signature: %v", signers, err)
		}
		if i == 0 {
			sig[40] ^= 1
			if verify("bad", msg, sig) == nil {
				t.Fatal("openssl accepts a corrupted signature")
			}
		}
	}
}
