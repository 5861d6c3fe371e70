package node_test

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/node/nodetest"
)

// TestPeerPortRefusesClientsAndOutlastsAStreamFlood: a client certificate
// from the cluster's own CA fails the TLS handshake on the peer port (no
// handler answers it), while a member's passes. A member that opens far
// more Exchange streams than the limit gets at most the limit per
// connection, and a full-protocol signature through the flooded leader
// still completes.
func TestPeerPortRefusesClientsAndOutlastsAStreamFlood(t *testing.T) {
	c := startInProcess(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	leader, cl := rawLeaderClient(ctx, t, c)
	k := createKey(ctx, t, cl, "ed", kqpb.Algorithm_ED25519)

	if err := peerHandshake(t, c, "client", leader); err == nil || !strings.Contains(err.Error(), "bad certificate") {
		t.Fatalf("peer port with a client certificate: %v, want the handshake refused (bad certificate)", err)
	}
	if err := peerHandshake(t, c, leader, otherThan(c, leader)); err != nil {
		t.Fatalf("peer port with a member's certificate: %v", err)
	}

	mallory := "n1"
	if leader == mallory {
		mallory = "n2"
	}
	pc, conn, err := c.PeerClient(mallory, leader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Clock(ctx, &kqpb.ClockRequest{}); err != nil {
		t.Fatalf("a member's certificate on the peer port: %v", err)
	}
	conn.Close()

	// The flood: three connections, 300 streams each, none closed.
	const conns, perConn, limit = 3, 300, 128
	flood, stopFlood := context.WithCancel(ctx)
	var opened atomic.Int32
	var wg sync.WaitGroup
	defer func() {
		stopFlood()
		wg.Wait()
	}()
	for range conns {
		pc, conn, err := c.PeerClient(mallory, leader)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for range perConn {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := pc.Exchange(flood); err == nil {
					opened.Add(1)
				}
				<-flood.Done()
			}()
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for opened.Load() < conns*limit && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // streams beyond the limit would open now
	if got := opened.Load(); got != conns*limit {
		t.Fatalf("%d flood streams opened on %d connections, want exactly %d (the per-connection limit)", got, conns, conns*limit)
	}

	h := issueHandle(ctx, t, cl, &kqpb.IssueHandleRequest{Key: "ed", TtlMs: 600_000})
	msg := []byte("signed while a member floods the peer port")
	start := time.Now()
	resp, err := cl.Sign(ctx, &kqpb.SignRequest{Handle: h, Digest: msg, FullProtocol: true})
	if err != nil {
		t.Fatalf("sign during the stream flood: %v", err)
	}
	t.Logf("full-protocol signature during the flood: %s, committee %v", time.Since(start).Round(time.Millisecond), resp.Committee)
	if !ed25519.Verify(ed25519.PublicKey(k.PublicKey), msg, resp.Signature) {
		t.Fatal("signature made during the flood does not verify")
	}
}

// peerHandshake opens a TLS connection to node to's peer port with the
// certificate named as and reads from it. Under TLS 1.3 the server checks
// the client's certificate after the client's handshake ends, so a refusal
// arrives as an alert on the first read.
func peerHandshake(t *testing.T, c *nodetest.Cluster, as, to string) error {
	t.Helper()
	n, _ := c.Config().Node(to)
	dir := filepath.Join(c.DataDir(), "certs")
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, as+".pem"), filepath.Join(dir, as+".key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", n.Peer,
		&tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13, NextProtos: []string{"h2"}})
	if err != nil {
		return err
	}
	defer conn.Close()
	// A refused client reads the alert; an accepted one reads the HTTP/2
	// server preface (a SETTINGS frame).
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Read(make([]byte, 1))
	return err
}

// otherThan returns a member other than id.
func otherThan(c scenarioCluster, id string) string {
	for _, m := range c.IDs() {
		if m != id {
			return m
		}
	}
	return ""
}
