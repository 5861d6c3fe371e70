package client_test

// The proofs that outside tools accept what a threshold key signs: Node.js's
// gRPC stack and OpenSSL, ssh-keygen, and openssl's X.509 chain check. Each
// skips when its tool is not installed.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestNodeSignsOverMutualTLS runs api/examples/node/sign.mjs: another
// language's gRPC stack, loading the proto file as it is, calls Sign over
// mutual TLS, and node:crypto (OpenSSL) verifies the Ed25519 and secp256k1
// signatures. The example is copied to a temporary directory and installed
// there with npm ci, from its lockfile, so the source tree gets no
// node_modules.
func TestNodeSignsOverMutualTLS(t *testing.T) {
	node, errNode := exec.LookPath("node")
	npm, errNpm := exec.LookPath("npm")
	if errNode != nil || errNpm != nil {
		t.Skip("node and npm are not installed: the Node.js proof needs them (Debian: nodejs, npm)")
	}
	ed, ec := signer(t, "ed"), signer(t, "ec")
	src := filepath.Join(repoRoot(), "api", "examples", "node")
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "sign.mjs"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	install := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	install.Dir = dir
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v: %s", err, out)
	}

	files := map[string]string{"ca.pem": string(shared.cfg.CA), "client.pem": string(shared.cfg.Cert), "client.key": string(shared.cfg.Key),
		"ed.pem": shared.ed.GetPublicKeyPem(), "ec.pem": shared.ec.GetPublicKeyPem()}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := exec.CommandContext(ctx, node, "sign.mjs")
	run.Dir = dir
	run.Env = append(os.Environ(),
		"KQ_PROTO="+filepath.Join(repoRoot(), "api", "keyquorum.proto"),
		"KQ_ENDPOINT="+shared.cfg.Endpoints[len(shared.cfg.Endpoints)-1],
		"KQ_CA="+filepath.Join(dir, "ca.pem"), "KQ_CERT="+filepath.Join(dir, "client.pem"), "KQ_KEY="+filepath.Join(dir, "client.key"),
		"KQ_ED_HANDLE="+ed.Handle().Token.Bearer(), "KQ_ED_PUBKEY="+filepath.Join(dir, "ed.pem"),
		"KQ_EC_HANDLE="+ec.Handle().Token.Bearer(), "KQ_EC_PUBKEY="+filepath.Join(dir, "ec.pem"))
	var stderr strings.Builder
	run.Stderr = &stderr
	out, err := run.Output()
	if err != nil {
		t.Fatalf("node sign.mjs: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var r struct {
			Algorithm string `json:"algorithm"`
			Key       string `json:"key"`
			Valid     bool   `json:"valid"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil || !r.Valid {
			t.Fatalf("node: %q: %v", line, err)
		}
		seen[r.Algorithm] = true
	}
	if !seen["ed25519"] || !seen["ecdsa-secp256k1"] {
		t.Fatalf("node checked %v, want both algorithms:\n%s", seen, out)
	}
	t.Logf("node: %s", out)
}

// TestSSHCertificateAndSignatureVerifyWithSSHKeygen: the threshold Ed25519
// key, through ssh.NewSignerFromSigner, signs an OpenSSH user certificate
// that ssh-keygen reads, and an SSHSIG file signature that ssh-keygen -Y
// verify accepts.
func TestSSHCertificateAndSignatureVerifyWithSSHKeygen(t *testing.T) {
	keygen, err := exec.LookPath("ssh-keygen")
	if err != nil {
		t.Skip("ssh-keygen is not installed: the SSH proof needs it (Debian: openssh-client)")
	}
	ca, err := ssh.NewSignerFromSigner(signer(t, "ed"))
	if err != nil {
		t.Fatal(err)
	}
	userPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshUser, err := ssh.NewPublicKey(userPub)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert := &ssh.Certificate{
		Key:             sshUser,
		Serial:          7,
		CertType:        ssh.UserCert,
		KeyId:           "alice@keyquorum",
		ValidPrincipals: []string{"alice"},
		ValidAfter:      uint64(now.Add(-time.Minute).Unix()),
		ValidBefore:     uint64(now.Add(time.Hour).Unix()),
		Permissions:     ssh.Permissions{Extensions: map[string]string{"permit-pty": ""}},
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath := filepath.Join(dir, "id_ed25519-cert.pub")
	if err := os.WriteFile(certPath, ssh.MarshalAuthorizedKey(cert), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(keygen, "-L", "-f", certPath).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh-keygen -L: %v: %s", err, out)
	}
	for _, want := range []string{"user certificate", "Signing CA: ED25519 " + ssh.FingerprintSHA256(ca.PublicKey()), `"alice@keyquorum"`, "alice"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("ssh-keygen -L output lacks %q:\n%s", want, out)
		}
	}
	// ssh-keygen -L prints a certificate it cannot verify; the checker
	// verifies the signature with x/crypto/ssh as sshd would.
	checker := ssh.CertChecker{IsUserAuthority: func(k ssh.PublicKey) bool { return bytes.Equal(k.Marshal(), ca.PublicKey().Marshal()) }}
	if err := checker.CheckCert("alice", cert); err != nil {
		t.Fatalf("certificate check: %v", err)
	}

	// A file signature, verified by ssh-keygen itself.
	msg := []byte("release v1.2.3 sha256:0123456789abcdef\n")
	sig := sshsig(t, ca, "file", msg)
	msgPath, sigPath, allowed := filepath.Join(dir, "msg"), filepath.Join(dir, "msg.sig"), filepath.Join(dir, "allowed_signers")
	for p, b := range map[string][]byte{msgPath: msg, sigPath: sig,
		allowed: append([]byte("release@keyquorum "), ssh.MarshalAuthorizedKey(ca.PublicKey())...)} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	verify := func(data []byte) ([]byte, error) {
		cmd := exec.Command(keygen, "-Y", "verify", "-f", allowed, "-I", "release@keyquorum", "-n", "file", "-s", sigPath)
		cmd.Stdin = bytes.NewReader(data)
		return cmd.CombinedOutput()
	}
	if out, err := verify(msg); err != nil || !strings.Contains(string(out), "Good") {
		t.Fatalf("ssh-keygen -Y verify: %v: %s", err, out)
	}
	if out, err := verify(append([]byte("x"), msg...)); err == nil {
		t.Fatalf("ssh-keygen accepted the signature over other data: %s", out)
	}
}

// sshsig makes an armored SSHSIG signature (OpenSSH's PROTOCOL.sshsig) of
// msg in namespace ns with SHA-512, as `ssh-keygen -Y sign` would.
func sshsig(t *testing.T, s ssh.Signer, ns string, msg []byte) []byte {
	t.Helper()
	h := sha512.Sum512(msg)
	signed := ssh.Marshal(struct {
		Magic     [6]byte
		Namespace string
		Reserved  string
		HashAlg   string
		Hash      string
	}{[6]byte([]byte("SSHSIG")), ns, "", "sha512", string(h[:])})
	sig, err := s.Sign(rand.Reader, signed)
	if err != nil {
		t.Fatal(err)
	}
	blob := ssh.Marshal(struct {
		Magic     [6]byte
		Version   uint32
		PublicKey string
		Namespace string
		Reserved  string
		HashAlg   string
		Signature string
	}{[6]byte([]byte("SSHSIG")), 1, string(s.PublicKey().Marshal()), ns, "", "sha512", string(ssh.Marshal(sig))})
	b64 := base64.StdEncoding.EncodeToString(blob)
	var out strings.Builder
	out.WriteString("-----BEGIN SSH SIGNATURE-----\n")
	for len(b64) > 70 {
		out.WriteString(b64[:70] + "\n")
		b64 = b64[70:]
	}
	out.WriteString(b64 + "\n-----END SSH SIGNATURE-----\n")
	return []byte(out.String())
}

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
