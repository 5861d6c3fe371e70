package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config says where the cluster is and who the caller is. The zero values
// of the tuning fields pick the defaults named on each.
type Config struct {
	// Endpoints are nodes' client addresses (host:port), tried in this
	// order. Any node serves any call (it forwards to the leader), so one
	// is enough; more let the client ride out a node's loss.
	Endpoints []string
	// CA is the cluster CA certificate, PEM; Cert and Key are the caller's
	// certificate and private key, PEM, issued by that CA. The caller's
	// identity, as audit records and handles name it, is the certificate's.
	CA, Cert, Key []byte
	// TLS, when set, is used as it is in place of CA, Cert and Key (a
	// clone of it per connection). It must present a client certificate.
	TLS *tls.Config

	// CallTimeout bounds one method call, every retry and failover
	// included, when the caller's context has no earlier deadline.
	// Default 60s: key generation waits for the cluster's protocol.
	CallTimeout time.Duration
	// ConnectTimeout bounds how long a call waits for one endpoint to
	// connect before it tries the next, so a partitioned node does not use
	// up the call's deadline. Default 3s.
	ConnectTimeout time.Duration
	// MaxAttempts bounds the attempts of one call across endpoints.
	// Default 3 per endpoint.
	MaxAttempts int
	// Backoff is the pause after every endpoint failed once, doubled each
	// time up to 2s, so a cluster electing a leader is not hammered.
	// Default 200ms.
	Backoff time.Duration
	_       struct{}
}

// Defaults of the tuning fields.
const (
	DefaultCallTimeout    = 60 * time.Second
	DefaultConnectTimeout = 3 * time.Second
	DefaultBackoff        = 200 * time.Millisecond
	maxBackoff            = 2 * time.Second
	attemptsPerEndpoint   = 3
)

// withDefaults returns c with every unset tuning field at its default.
func (c Config) withDefaults() Config {
	if c.CallTimeout == 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = attemptsPerEndpoint * len(c.Endpoints)
	}
	if c.Backoff == 0 {
		c.Backoff = DefaultBackoff
	}
	return c
}

// Validate checks that c names endpoints and credentials and that the
// tuning fields are in range.
func (c Config) Validate() error {
	if len(c.Endpoints) == 0 {
		return errors.New("keyquorum: config: no endpoints")
	}
	for _, e := range c.Endpoints {
		if strings.TrimSpace(e) == "" {
			return errors.New("keyquorum: config: an empty endpoint")
		}
	}
	if c.TLS == nil && (len(c.CA) == 0 || len(c.Cert) == 0 || len(c.Key) == 0) {
		return errors.New("keyquorum: config: CA, Cert and Key are required (or TLS)")
	}
	if c.CallTimeout < 0 || c.ConnectTimeout < 0 || c.Backoff < 0 || c.MaxAttempts < 0 {
		return errors.New("keyquorum: config: negative timeout, backoff or attempts")
	}
	return nil
}

// tlsConfig builds the client side of mutual TLS: TLS 1.3, the server
// checked against the CA and the dialled host, and required to present a
// keyquorum node identity, so a client certificate from the same CA cannot
// pose as a node.
func (c Config) tlsConfig() (*tls.Config, error) {
	if c.TLS != nil {
		return c.TLS.Clone(), nil
	}
	cert, err := tls.X509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("keyquorum: config: client certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CA) {
		return nil, errors.New("keyquorum: config: no certificate in CA")
	}
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		Certificates:     []tls.Certificate{cert},
		RootCAs:          pool,
		VerifyConnection: verifyNode,
	}, nil
}

// verifyNode accepts a server whose certificate carries a node identity,
// spiffe://<cluster>/node/<id>, as keyquorum's CA issues to nodes.
func verifyNode(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("keyquorum: server presented no certificate")
	}
	for _, u := range cs.PeerCertificates[0].URIs {
		if u.Scheme == "spiffe" && strings.HasPrefix(u.Path, "/node/") {
			return nil
		}
	}
	return errors.New("keyquorum: server certificate carries no keyquorum node identity")
}
