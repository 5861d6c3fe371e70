package pki

import (
	"crypto/tls"
	"fmt"

	"github.com/keyquorum/keyquorum/node/config"
)

// ServerTLS returns the server side of mutual TLS for node nodeID: its own
// certificate from dir, TLS 1.3 only, and a required client certificate
// verified against the CA in dir that carries a keyquorum identity of this
// cluster. Handlers learn who called with PeerIdentity.
func ServerTLS(dir, nodeID string) (*tls.Config, error) {
	cert, err := loadPair(dir, nodeID)
	if err != nil {
		return nil, err
	}
	pool, err := caPool(dir)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := ConnIdentity(cs)
			return err
		},
	}, nil
}

// ClientTLS returns the client side of mutual TLS with the certificate
// certName from dir ("client" for the operator client, or a node id for
// node-to-node calls). The server must present a node certificate of this
// cluster, issued by the CA in dir; its host name or IP is checked as well,
// from the address dialled.
func ClientTLS(dir, certName string) (*tls.Config, error) {
	cert, err := loadPair(dir, certName)
	if err != nil {
		return nil, err
	}
	return clientTLS(dir, cert)
}

func clientTLS(dir string, cert tls.Certificate) (*tls.Config, error) {
	pool, err := caPool(dir)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := ConnIdentity(cs)
			if err != nil {
				return err
			}
			if id.Kind != KindNode {
				return fmt.Errorf("%w: server presented %s, not a node", ErrNoIdentity, id)
			}
			return nil
		},
	}, nil
}

func loadPair(dir, name string) (tls.Certificate, error) {
	if !config.ValidNodeID(name) || name == caName {
		return tls.Certificate{}, fmt.Errorf("pki: invalid certificate name %q", name)
	}
	certPath, keyPath := pairPaths(dir, name)
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("pki: load %s: %w", certPath, err)
	}
	return cert, nil
}

// RaftTLS serves and dials raft RPCs with the node's certificate: raft
// uses one tls.Config for both ends of a connection. Whichever end it is,
// the other must hold a node certificate of a member: a client
// certificate from the same CA may call KeyService, never speak raft.
func RaftTLS(isMember func(string) bool, server, client *tls.Config) *tls.Config {
	t := server.Clone()
	t.RootCAs = client.RootCAs
	t.VerifyConnection = func(cs tls.ConnectionState) error {
		id, err := ConnIdentity(cs)
		if err != nil {
			return err
		}
		if id.Kind != KindNode || !isMember(id.Name) {
			return fmt.Errorf("node: raft peer %s is not a member", id)
		}
		return nil
	}
	return t
}
