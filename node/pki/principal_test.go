package pki

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIssuePrincipalMintsAClientIdentity(t *testing.T) {
	c := testCluster(t, "kq-test", "n1", "n2")
	dir := c.CertsDir()
	if err := Init(dir, c); err != nil {
		t.Fatal(err)
	}
	wrote, err := IssuePrincipal(dir, c, "alice", 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(wrote) != 2 || wrote[0] != filepath.Join(dir, "alice.pem") || wrote[1] != filepath.Join(dir, "alice.key") {
		t.Fatalf("wrote %v", wrote)
	}
	leaf, err := readCert(wrote[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got < 2*time.Hour || got > 2*time.Hour+backdate+time.Minute {
		t.Errorf("validity %v, want the 2h ttl (plus the backdate)", got)
	}
	server, err := ServerTLS(dir, "n1")
	if err != nil {
		t.Fatal(err)
	}
	cert, key := PrincipalFiles(dir, "alice")
	client, err := ClientTLSFiles(dir, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	client.ServerName = "localhost"
	saw, _, err := handshake(t, server, client)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Identity{Kind: KindClient, Name: "alice", Cluster: "kq-test"}); saw != want {
		t.Errorf("server saw %+v, want %+v", saw, want)
	}
	if _, err := IssuePrincipal(dir, c, "alice", time.Hour); !errors.Is(err, ErrPrincipalExists) {
		t.Errorf("second issue: err = %v, want ErrPrincipalExists", err)
	}
	for _, bad := range []string{"", "ca", "client", "n1", "Alice", "a/b", "-x", strings.Repeat("a", 64)} {
		if _, err := IssuePrincipal(dir, c, bad, time.Hour); err == nil {
			t.Errorf("principal %q was issued", bad)
		}
	}
	if _, err := IssuePrincipal(dir, c, "bob", 0); err == nil {
		t.Error("a zero ttl was accepted")
	}
}

func TestAdminKeepsTheBootstrapPair(t *testing.T) {
	c := testCluster(t, "kq-test", "n1", "n2")
	dir := c.CertsDir()
	if err := Init(dir, c); err != nil {
		t.Fatal(err)
	}
	cert, key := PrincipalFiles(dir, Admin)
	if cert != filepath.Join(dir, "client.pem") || key != filepath.Join(dir, "client.key") {
		t.Fatalf("admin's pair is %s, %s; want client.pem and client.key", cert, key)
	}
	leaf, err := readCert(cert)
	if err != nil {
		t.Fatal(err)
	}
	id, err := leafIdentity(leaf, "kq-test")
	if err != nil || id.Name != Admin || id.Kind != KindClient {
		t.Fatalf("client.pem is %+v (%v), want client/admin", id, err)
	}
}

// An older `kq certs init` left ca.key beside the certificates kqd reads;
// the next certs init or certs issue moves it to the CA's own directory.
func TestCAKeyMovesOutOfTheCertificatesDirectory(t *testing.T) {
	for _, via := range []string{"init", "issue"} {
		t.Run(via, func(t *testing.T) {
			c := testCluster(t, "kq-test", "n1", "n2")
			dir := c.CertsDir()
			if err := Init(dir, c); err != nil {
				t.Fatal(err)
			}
			newPath := filepath.Join(CADir(dir), "ca.key")
			oldPath := filepath.Join(dir, "ca.key")
			if err := os.Rename(newPath, oldPath); err != nil { // the old layout
				t.Fatal(err)
			}
			var err error
			if via == "init" {
				err = Init(dir, c)
			} else {
				_, err = IssuePrincipal(dir, c, "carol", time.Hour)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(oldPath); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s still exists (err %v)", oldPath, err)
			}
			fi, err := os.Stat(newPath)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("moved key mode %v", fi.Mode().Perm())
			}
			// The moved key still issues.
			if _, err := IssuePrincipal(dir, c, "dave", time.Hour); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A node needs only ca.pem and its own pair: with the CA's directory gone,
// it still serves mutual TLS.
func TestServingNeedsNoCAKey(t *testing.T) {
	c := testCluster(t, "kq-test", "n1", "n2")
	dir := c.CertsDir()
	if err := Init(dir, c); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(CADir(dir)); err != nil {
		t.Fatal(err)
	}
	server, err := ServerTLS(dir, "n1")
	if err != nil {
		t.Fatal(err)
	}
	client, err := ClientTLS(dir, ClientName)
	if err != nil {
		t.Fatal(err)
	}
	client.ServerName = "localhost"
	if _, _, err := handshake(t, server, client); err != nil {
		t.Fatal(err)
	}
	if _, err := IssuePrincipal(dir, c, "erin", time.Hour); !errors.Is(err, ErrCAMissing) {
		t.Errorf("issue without the CA key: err = %v, want ErrCAMissing", err)
	}
}
