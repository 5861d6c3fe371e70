package pki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/keyquorum/keyquorum/node/config"
)

// Kind says what a certificate's holder is.
type Kind string

// The kinds of identity.
const (
	KindNode   Kind = "node"   // a cluster member
	KindClient Kind = "client" // a client service or an operator
)

const uriScheme = "spiffe"

// Identity is who a peer is, taken from its verified certificate.
type Identity struct {
	Kind    Kind
	Name    string // node id or client name
	Cluster string // cluster id, the trust domain
}

// String returns the identity's URI, spiffe://<cluster>/<kind>/<name>.
func (id Identity) String() string { return id.URI().String() }

// URI returns the URI SAN that carries this identity.
func (id Identity) URI() *url.URL {
	return &url.URL{Scheme: uriScheme, Host: id.Cluster, Path: "/" + string(id.Kind) + "/" + id.Name}
}

// ConnIdentity returns the identity of the peer of a TLS connection whose
// certificate chain was verified against a keyquorum CA. It fails with
// ErrNoIdentity when the chain is unverified or the leaf carries no
// keyquorum URI, and with ErrForeignCluster when the leaf names a cluster
// other than the CA's.
func ConnIdentity(state tls.ConnectionState) (Identity, error) {
	if len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return Identity{}, fmt.Errorf("%w: peer certificate not verified", ErrNoIdentity)
	}
	chain := state.VerifiedChains[0]
	cluster, err := caCluster(chain[len(chain)-1])
	if err != nil {
		return Identity{}, err
	}
	return leafIdentity(chain[0], cluster)
}

// PeerIdentity returns the identity of the caller of a gRPC method served
// over the TLS credentials of ServerTLS (or of the server, on a client
// stream). It fails with ErrNoIdentity when the call did not arrive over TLS.
func PeerIdentity(ctx context.Context) (Identity, error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return Identity{}, fmt.Errorf("%w: no peer information", ErrNoIdentity)
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return Identity{}, fmt.Errorf("%w: connection is not TLS (%s)", ErrNoIdentity, p.AuthInfo.AuthType())
	}
	return ConnIdentity(info.State)
}

// PeerSerial returns the serial number of the caller's certificate, in
// lower-case hex without leading zeros, or "" when the call did not
// arrive over TLS with a certificate.
func PeerSerial(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return ""
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 || info.State.PeerCertificates[0].SerialNumber == nil {
		return ""
	}
	return info.State.PeerCertificates[0].SerialNumber.Text(16)
}

// ParseIdentity parses an identity URI as String writes it.
func ParseIdentity(s string) (Identity, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrNoIdentity, err)
	}
	id, ok := parseURI(u)
	if !ok || u.Scheme != uriScheme {
		return Identity{}, fmt.Errorf("%w: %.80q is not an identity URI", ErrNoIdentity, s)
	}
	return id, nil
}

// caCluster returns the trust domain a CA certificate carries as its
// spiffe://<cluster> URI.
func caCluster(ca *x509.Certificate) (string, error) {
	for _, u := range ca.URIs {
		if u.Scheme == uriScheme && (u.Path == "" || u.Path == "/") && config.ValidClusterID(u.Host) {
			return u.Host, nil
		}
	}
	return "", fmt.Errorf("%w: CA %q names no cluster", ErrNoIdentity, ca.Subject.CommonName)
}

func leafIdentity(leaf *x509.Certificate, cluster string) (Identity, error) {
	var found []Identity
	for _, u := range leaf.URIs {
		if u.Scheme != uriScheme {
			continue
		}
		id, ok := parseURI(u)
		if !ok {
			return Identity{}, fmt.Errorf("%w: malformed identity URI %q", ErrNoIdentity, u)
		}
		found = append(found, id)
	}
	switch {
	case len(found) == 0:
		return Identity{}, fmt.Errorf("%w: certificate %q has no identity URI", ErrNoIdentity, leaf.Subject.CommonName)
	case len(found) > 1:
		return Identity{}, fmt.Errorf("%w: certificate %q has %d identity URIs", ErrNoIdentity, leaf.Subject.CommonName, len(found))
	case found[0].Cluster != cluster:
		return Identity{}, fmt.Errorf("%w: %s presented to cluster %s", ErrForeignCluster, found[0], cluster)
	}
	return found[0], nil
}

func parseURI(u *url.URL) (Identity, bool) {
	if u.User != nil || u.Port() != "" || u.RawQuery != "" || u.Fragment != "" || !config.ValidClusterID(u.Host) {
		return Identity{}, false
	}
	kind, name, ok := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !ok || (Kind(kind) != KindNode && Kind(kind) != KindClient) || !config.ValidNodeID(name) {
		return Identity{}, false
	}
	return Identity{Kind: Kind(kind), Name: name, Cluster: u.Host}, true
}
