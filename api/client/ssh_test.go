package client_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

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
