package client_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// pki is a throwaway CA with a node certificate (spiffe://test/node/<id>,
// IP 127.0.0.1) and a client certificate, shaped like keyquorum's.
type pki struct {
	caPEM, clientCert, clientKey []byte
	nodeTLS                      *tls.Config
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	leaf := func(serial int64, uri string, server bool) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		u, _ := url.Parse(uri)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), URIs: []*url.URL{u}, NotBefore: ca.NotBefore, NotAfter: ca.NotAfter,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		if server {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	node := leaf(2, "spiffe://test/node/n1", true)
	cl := leaf(3, "spiffe://test/client/alice", false)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(cl.PrivateKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &pki{
		caPEM:      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		clientCert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cl.Certificate[0]}),
		clientKey:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		nodeTLS: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{node},
			ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool},
	}
}

// fakeNode is a KeyService that signs with local keys, so the client's
// failover, errors and encodings can be tested without a cluster.
type fakeNode struct {
	kqpb.UnimplementedKeyServiceServer
	addr string

	mu          sync.Mutex
	unavailable int        // answer UNAVAILABLE to this many calls first
	fail        codes.Code // answer every Sign with this code when set
	highS       bool       // return secp256k1 signatures with a high s
	signIDs     []string   // request ids of Sign calls, in order
	issued      []*kqpb.IssueHandleRequest

	ed   ed25519.PrivateKey
	secp *secp256k1.PrivateKey
}

func startFake(t *testing.T, p *pki) *fakeNode {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	secp, _ := secp256k1.GeneratePrivateKey()
	f := &fakeNode{addr: l.Addr().String(), ed: ed, secp: secp}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(p.nodeTLS)))
	kqpb.RegisterKeyServiceServer(srv, f)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return f
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

func (f *fakeNode) answerUnavailable() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.unavailable > 0 {
		f.unavailable--
		return true
	}
	return false
}

func (f *fakeNode) GetKey(_ context.Context, r *kqpb.GetKeyRequest) (*kqpb.Key, error) {
	if f.answerUnavailable() {
		return nil, status.Error(codes.Unavailable, "no leader")
	}
	switch r.GetName() {
	case "ed":
		return &kqpb.Key{Name: "ed", Algorithm: kqpb.Algorithm_ED25519, PrimaryVersion: 1, Version: 1,
			PublicKey: f.ed.Public().(ed25519.PublicKey)}, nil
	case "ec":
		return &kqpb.Key{Name: "ec", Algorithm: kqpb.Algorithm_ECDSA_SECP256K1, PrimaryVersion: 1, Version: 1,
			PublicKey: f.secp.PubKey().SerializeCompressed()}, nil
	}
	return nil, status.Errorf(codes.NotFound, "key %q not found", r.GetName())
}

func (f *fakeNode) IssueHandle(_ context.Context, r *kqpb.IssueHandleRequest) (*kqpb.Handle, error) {
	f.mu.Lock()
	f.issued = append(f.issued, r)
	f.mu.Unlock()
	return &kqpb.Handle{Id: r.GetHandleId(), Key: r.GetKey(), Purpose: r.GetPurpose(),
		ExpiresAtUnixNano: time.Now().Add(time.Duration(r.GetTtlMs()) * time.Millisecond).UnixNano()}, nil
}

func (f *fakeNode) Sign(_ context.Context, r *kqpb.SignRequest) (*kqpb.SignResponse, error) {
	f.mu.Lock()
	f.signIDs = append(f.signIDs, r.GetRequestId())
	fail, highS := f.fail, f.highS
	f.mu.Unlock()
	if f.answerUnavailable() {
		return nil, status.Error(codes.Unavailable, "no reachable leader")
	}
	if fail != codes.OK {
		return nil, status.Error(fail, "refused")
	}
	var sig []byte
	switch r.GetKey() {
	case "ed":
		sig = ed25519.Sign(f.ed, r.GetDigest())
	case "ec":
		s := secpecdsa.Sign(f.secp, r.GetDigest()) // low s
		sig = s.Serialize()
		if highS {
			sig = highSDER(s)
		}
	default:
		return nil, status.Error(codes.PermissionDenied, "handle is for another key")
	}
	return &kqpb.SignResponse{Key: r.GetKey(), Version: 1, Signature: sig, RequestId: r.GetRequestId(),
		Signatures: []*kqpb.VersionSignature{{Version: 1, Signature: sig}}}, nil
}

// highSDER re-encodes s with n - s, the other valid signature, which a
// careless signer could return and Bitcoin and Ethereum reject.
func highSDER(s *secpecdsa.Signature) []byte {
	r, sv := s.R(), s.S()
	sv.Negate()
	rb, sb := r.Bytes(), sv.Bytes()
	der, _ := asn1Sig(new(big.Int).SetBytes(rb[:]), new(big.Int).SetBytes(sb[:]))
	return der
}

func asn1Sig(r, s *big.Int) ([]byte, error) {
	return asn1.Marshal(struct{ R, S *big.Int }{r, s})
}
