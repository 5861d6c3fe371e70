package node

import (
	"crypto/tls"
	"fmt"

	"github.com/keyquorum/keyquorum/node/pki"
	"github.com/keyquorum/keyquorum/tss"
)

// raftTLS serves and dials raft RPCs with the node's certificate: raft uses
// one tls.Config for both ends of a connection. Whichever end it is, the
// other must hold a node certificate of a member: a client certificate from
// the same CA may call KeyService, never speak raft.
func raftTLS(isMember func(string) bool, server, client *tls.Config) *tls.Config {
	t := server.Clone()
	t.RootCAs = client.RootCAs
	t.VerifyConnection = func(cs tls.ConnectionState) error {
		id, err := pki.ConnIdentity(cs)
		if err != nil {
			return err
		}
		if id.Kind != pki.KindNode || !isMember(id.Name) {
			return fmt.Errorf("node: raft peer %s is not a member", id)
		}
		return nil
	}
	return t
}

// fsmCrypto gives the replicated state machine the deterministic checks it
// needs from the threshold engine.
type fsmCrypto struct{}

func (fsmCrypto) KnownAlgorithm(a string) bool {
	_, err := tss.ParseAlgorithm(a)
	return err == nil
}

func (fsmCrypto) CheckMessage(a string, msg []byte) error {
	alg, err := tss.ParseAlgorithm(a)
	if err != nil {
		return err
	}
	return tss.CheckMessage(alg, msg)
}

func (fsmCrypto) Verify(a string, pub, msg, sig []byte) bool {
	alg, err := tss.ParseAlgorithm(a)
	return err == nil && tss.Verify(alg, pub, msg, sig)
}
