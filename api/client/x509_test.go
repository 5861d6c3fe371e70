package client_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestX509ChainVerifiesWithOpenSSL: a threshold Ed25519 key self-signs a CA
// certificate and issues a leaf through x509.CreateCertificate, and OpenSSL
// accepts the chain.
func TestX509ChainVerifiesWithOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed: the X.509 proof needs it (Debian: openssl)")
	}
	s := signer(t, "ed")
	now := time.Now().Add(-time.Minute)
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "keyquorum threshold CA", Organization: []string{"keyquorum test"}},
		NotBefore:             now,
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, s.Public(), s)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "service.example"},
		DNSNames:     []string{"service.example"},
		NotBefore:    now,
		NotAfter:     now.Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, leafPub, s)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "service.example"}); err != nil {
		t.Fatalf("Go's verifier: %v", err)
	}

	dir := t.TempDir()
	caPath, leafPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "leaf.pem")
	writePEM(t, caPath, "CERTIFICATE", caDER)
	writePEM(t, leafPath, "CERTIFICATE", leafDER)
	out, err := exec.Command(openssl, "verify", "-x509_strict", "-CAfile", caPath, leafPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), leafPath+": OK") {
		t.Fatalf("openssl verify: %v: %s", err, out)
	}
	// The verifier must be able to say no: a leaf signed by another key.
	otherPub, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	impostor := *ca // the CA's name, another key
	impostor.PublicKey = otherPub
	forged, err := x509.CreateCertificate(rand.Reader, leafTmpl, &impostor, leafPub, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, leafPath, "CERTIFICATE", forged)
	if out, err := exec.Command(openssl, "verify", "-CAfile", caPath, leafPath).CombinedOutput(); err == nil {
		t.Fatalf("openssl accepted a leaf the CA key did not sign: %s", out)
	}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}
