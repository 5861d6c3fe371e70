// Package consensustest holds helpers for testing raft members: throwaway
// certificate authorities and free loopback addresses for members on real
// sockets, and an in-memory network of raft stores and transports for
// members in one process. The keys it makes are for tests only.
package consensustest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

// CA is a throwaway certificate authority for one test cluster.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

// NewCA makes a self-signed ECDSA P-256 CA valid for one hour.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	key, der := issue(t, "ca", tmpl, nil, nil)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("consensustest: parse ca cert: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &CA{cert: cert, key: key, pool: pool}
}

// Pool returns a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool { return ca.pool }

// MemberTLS issues a certificate for member id, usable as both TLS server
// and client, with an IP SAN for 127.0.0.1, and returns a mutual-TLS config
// that trusts only this CA in both directions.
func (ca *CA) MemberTLS(t testing.TB, id string) *tls.Config {
	t.Helper()
	key, der := issue(t, "member", &x509.Certificate{
		Subject:     pkix.Name{CommonName: id},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{id},
	}, ca.cert, ca.key)
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		RootCAs:      ca.pool,
		ClientCAs:    ca.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
}

// issue makes a P-256 key and a certificate of tmpl for it, with a fresh
// serial, valid from a minute ago for an hour, signed by parent with
// parentKey, or self-signed when parent is nil. what names the
// certificate in failures.
func issue(t testing.TB, what string, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("consensustest: %s key: %v", what, err)
	}
	tmpl.SerialNumber = serial(t)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatalf("consensustest: %s cert: %v", what, err)
	}
	return key, der
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatalf("consensustest: serial: %v", err)
	}
	return n
}
