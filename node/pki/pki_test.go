package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/node/config"
)

func testCluster(t *testing.T, id string, nodes ...string) *config.Cluster {
	t.Helper()
	c := config.DefaultCluster()
	c.ID = id
	c.DataDir = t.TempDir()
	for i, n := range nodes {
		port := 7000 + 10*i
		c.Nodes = append(c.Nodes, config.NodeConfig{
			ID:     n,
			Raft:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			Peer:   net.JoinHostPort("node-"+n+".example", strconv.Itoa(port+1)),
			Client: net.JoinHostPort("10.0.0.1", strconv.Itoa(port+2)),
		})
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return &c
}

func readAll(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func TestEnsureIsIdempotentAndAddsNewNodes(t *testing.T) {
	c := testCluster(t, "kq-test", "n1", "n2", "n3")
	dir := c.CertsDir()
	created, err := Ensure(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ca.pem", "ca.key", "n1.pem", "n1.key", "n2.pem", "n2.key", "n3.pem", "n3.key", "client.pem", "client.key"}
	var got []string
	for _, p := range created {
		got = append(got, filepath.Base(p))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("created %v, want %v", got, want)
	}
	if created[1] != filepath.Join(CADir(dir), "ca.key") {
		t.Errorf("CA key at %s, want it in %s", created[1], CADir(dir))
	}
	for _, path := range created {
		name := filepath.Base(path)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".key") && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	before := readAll(t, dir)

	created, err = Ensure(dir, c)
	if err != nil || len(created) != 0 {
		t.Fatalf("second Ensure created %v, err %v", created, err)
	}
	if after := readAll(t, dir); !mapsEqual(before, after) {
		t.Fatal("second Ensure changed files")
	}

	c.Nodes = append(c.Nodes, config.NodeConfig{ID: "n4", Raft: "127.0.0.1:7901", Peer: "127.0.0.1:7902", Client: "127.0.0.1:7903"})
	created, err = Ensure(dir, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 2 || filepath.Base(created[0]) != "n4.pem" {
		t.Fatalf("adding n4 created %v", created)
	}
	after := readAll(t, dir)
	for name, body := range before {
		if after[name] != body {
			t.Errorf("%s changed when n4 was added", name)
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestNodeCertificateServesBothUsages(t *testing.T) {
	c := testCluster(t, "kq-test", "n1", "n2")
	dir := c.CertsDir()
	if err := Init(dir, c); err != nil {
		t.Fatal(err)
	}
	pool, err := caPool(dir)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := readCert(filepath.Join(dir, "n1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "localhost", "node-n1.example", "10.0.0.1"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("n1 cert does not cover %s: %v", host, err)
		}
	}
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			t.Errorf("n1 cert fails usage %v: %v", usage, err)
		}
	}
	client, err := readCert(filepath.Join(dir, "client.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Error("client cert verifies for server auth")
	}
	if len(client.URIs) != 1 || client.URIs[0].String() != "spiffe://kq-test/client/admin" {
		t.Errorf("client URIs = %v", client.URIs)
	}
}

// handshake runs a TLS handshake over a loopback connection and returns the
// identities each side saw, and the errors of both sides.
func handshake(t *testing.T, server, client *tls.Config) (serverSaw, clientSaw Identity, err error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		id  Identity
		err error
	}
	done := make(chan result, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer conn.Close()
		tc := tls.Server(conn, server)
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		id, err := ConnIdentity(tc.ConnectionState())
		// Wait for the client to finish reading our flight.
		tc.Read(make([]byte, 1))
		done <- result{id, err}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(conn, client)
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	cerr := tc.Handshake()
	if cerr == nil {
		clientSaw, cerr = ConnIdentity(tc.ConnectionState())
		// TLS 1.3 client handshakes finish before the server checks the
		// client certificate; a read surfaces the server's verdict.
		if cerr == nil {
			tc.Write([]byte{0})
			tc.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, rerr := tc.Read(make([]byte, 1)); rerr != nil && !errors.Is(rerr, os.ErrDeadlineExceeded) && !isEOF(rerr) {
				cerr = rerr
			}
		}
	}
	tc.Close()
	r := <-done
	return r.id, clientSaw, errors.Join(r.err, cerr)
}

func isEOF(err error) bool { return err != nil && strings.Contains(err.Error(), "EOF") }

func TestMutualTLSHandshakeYieldsIdentities(t *testing.T) {
	c := testCluster(t, "kq-test", "n1", "n2")
	dir := c.CertsDir()
	if err := Init(dir, c); err != nil {
		t.Fatal(err)
	}
	server, err := ServerTLS(dir, "n1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		certName string
		want     Identity
	}{
		{"client", Identity{Kind: KindClient, Name: "admin", Cluster: "kq-test"}},
		{"n2", Identity{Kind: KindNode, Name: "n2", Cluster: "kq-test"}},
	} {
		client, err := ClientTLS(dir, tc.certName)
		if err != nil {
			t.Fatal(err)
		}
		client.ServerName = "localhost"
		serverSaw, clientSaw, err := handshake(t, server, client)
		if err != nil {
			t.Fatalf("%s: %v", tc.certName, err)
		}
		if serverSaw != tc.want {
			t.Errorf("server saw %+v, want %+v", serverSaw, tc.want)
		}
		if want := (Identity{Kind: KindNode, Name: "n1", Cluster: "kq-test"}); clientSaw != want {
			t.Errorf("client saw %+v, want %+v", clientSaw, want)
		}
	}
}

func TestHandshakeRejectsClientFromAnotherCA(t *testing.T) {
	ours := testCluster(t, "kq-test", "n1", "n2")
	theirs := testCluster(t, "kq-test", "n1", "n2") // same names, other CA
	for _, c := range []*config.Cluster{ours, theirs} {
		if err := Init(c.CertsDir(), c); err != nil {
			t.Fatal(err)
		}
	}
	server, err := ServerTLS(ours.CertsDir(), "n1")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := ClientTLS(theirs.CertsDir(), "client")
	if err != nil {
		t.Fatal(err)
	}
	// Trust our server so that only the client certificate is at fault.
	foreign.RootCAs, _ = caPool(ours.CertsDir())
	foreign.ServerName = "127.0.0.1"
	_, _, err = handshake(t, server, foreign)
	if err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("server accepted a client certificate from another CA: %v", err)
	}
	// And a client that trusts only the other CA rejects our server.
	other, err := ClientTLS(theirs.CertsDir(), "client")
	if err != nil {
		t.Fatal(err)
	}
	other.ServerName = "127.0.0.1"
	_, _, err = handshake(t, server, other)
	if err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("client accepted a server certificate from another CA: %v", err)
	}
}

func TestClientRejectsServerWithClientCertificate(t *testing.T) {
	c := testCluster(t, "kq-test", "n1", "n2")
	dir := c.CertsDir()
	if err := Init(dir, c); err != nil {
		t.Fatal(err)
	}
	client, err := ClientTLS(dir, "n1")
	if err != nil {
		t.Fatal(err)
	}
	// A node certificate may answer only as a node; check the identity rule
	// through VerifyConnection directly with the admin certificate's chain.
	adminCert, err := readCert(filepath.Join(dir, "client.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := readCert(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	err = client.VerifyConnection(tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{adminCert, ca}}})
	if !errors.Is(err, ErrNoIdentity) {
		t.Fatalf("err = %v, want ErrNoIdentity", err)
	}
}

func TestConnIdentity(t *testing.T) {
	c := testCluster(t, "kq-test", "n1", "n2")
	dir := c.CertsDir()
	if err := Init(dir, c); err != nil {
		t.Fatal(err)
	}
	ca, err := readCert(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	n1, err := readCert(filepath.Join(dir, "n1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := ConnIdentity(tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{n1, ca}}})
	if err != nil || id != (Identity{Kind: KindNode, Name: "n1", Cluster: "kq-test"}) {
		t.Fatalf("got %+v, %v", id, err)
	}
	if id.String() != "spiffe://kq-test/node/n1" {
		t.Errorf("String = %q", id.String())
	}
	if _, err := ConnIdentity(tls.ConnectionState{PeerCertificates: []*x509.Certificate{n1}}); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("unverified chain: err = %v", err)
	}

	other := testCluster(t, "kq-other", "n1", "n2")
	if err := Init(other.CertsDir(), other); err != nil {
		t.Fatal(err)
	}
	otherN1, err := readCert(filepath.Join(other.CertsDir(), "n1.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ConnIdentity(tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{otherN1, ca}}}); !errors.Is(err, ErrForeignCluster) {
		t.Errorf("foreign cluster: err = %v", err)
	}
	if _, err := PeerIdentity(context.Background()); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("PeerIdentity without peer: err = %v", err)
	}
}

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		uri  string
		ok   bool
		want Identity
	}{
		{"spiffe://c1/node/n1", true, Identity{KindNode, "n1", "c1"}},
		{"spiffe://c1/client/admin", true, Identity{KindClient, "admin", "c1"}},
		{"spiffe://c1/operator/x", false, Identity{}},
		{"spiffe://c1/node/", false, Identity{}},
		{"spiffe://c1/node/n1/extra", false, Identity{}},
		{"spiffe://c1:80/node/n1", false, Identity{}},
		{"spiffe://Bad/node/n1", false, Identity{}},
	} {
		u, err := url.Parse(tc.uri)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := parseURI(u)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseURI(%s) = %+v, %v", tc.uri, got, ok)
		}
	}
}

func TestEnsureRefusesForeignCAAndReservedNames(t *testing.T) {
	c := testCluster(t, "kq-test", "n1", "n2")
	dir := c.CertsDir()
	if err := Init(dir, c); err != nil {
		t.Fatal(err)
	}
	c2 := *c
	c2.ID = "kq-else"
	if err := Init(dir, &c2); !errors.Is(err, ErrForeignCluster) {
		t.Errorf("other cluster's dir: err = %v", err)
	}
	c3 := *c
	c3.Nodes = append(slices.Clone(c.Nodes), config.NodeConfig{ID: "client"})
	if err := Init(dir, &c3); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Errorf("node named client: err = %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "ca.pem")); err != nil {
		t.Fatal(err)
	}
	if err := Init(dir, c); !errors.Is(err, ErrCAMissing) {
		t.Errorf("missing ca.pem: err = %v", err)
	}
}

func TestCANameConstraintConfinesIdentities(t *testing.T) {
	c := testCluster(t, "kq-test", "n1", "n2")
	cert, key, err := newCA(c.ID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ca := &authority{cert: cert, key: key}
	der, _, err := ca.issue(leafSpec{id: Identity{Kind: KindNode, Name: "n1", Cluster: "kq-other"}, server: true, hosts: []string{"127.0.0.1"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	var cie x509.CertificateInvalidError
	if !errors.As(err, &cie) || cie.Reason != x509.CANotAuthorizedForThisName {
		t.Fatalf("leaf outside the trust domain: err = %v", err)
	}
}

func TestConcurrentEnsureCreatesOneCA(t *testing.T) {
	c := testCluster(t, "kq-test", "n1", "n2", "n3")
	dir := c.CertsDir()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = Init(dir, c) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ca, err := readCert(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"n1", "n2", "n3", "client"} {
		leaf, err := readCert(filepath.Join(dir, name+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		if err := leaf.CheckSignatureFrom(ca); err != nil {
			t.Errorf("%s not signed by the one CA: %v", name, err)
		}
	}
}
