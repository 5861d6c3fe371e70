package node

import (
	"crypto/tls"
	"fmt"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/pki"
	"github.com/keyquorum/keyquorum/sealing"
	"github.com/keyquorum/keyquorum/tss"
)

// maxEd25519Message bounds an Ed25519 message: it is signed as is, travels
// in the raft log and through every round of the protocol.
const maxEd25519Message = 1024

func sealingConfig(c *config.Cluster, self config.NodeConfig, dir string) sealing.Config {
	sc := sealing.DefaultConfig(dir + "/tpm")
	sc.Backend = string(c.TPM.Backend)
	sc.Address = self.TPMAddress
	if c.TPM.Device != "" {
		sc.Device = c.TPM.Device
	}
	if len(c.TPM.PCRs) > 0 {
		sc.PCRs = c.TPM.PCRs
	}
	return sc
}

// raftTLS serves and dials raft RPCs with the node's certificate: raft uses
// one tls.Config for both ends of a connection. Whichever end it is, the
// other must hold a node certificate of a member: a client certificate from
// the same CA may call KeyService, never speak raft.
func raftTLS(c *config.Cluster, server, client *tls.Config) *tls.Config {
	t := server.Clone()
	t.RootCAs = client.RootCAs
	t.VerifyConnection = func(cs tls.ConnectionState) error {
		id, err := pki.ConnIdentity(cs)
		if err != nil {
			return err
		}
		if _, member := c.Node(id.Name); id.Kind != pki.KindNode || !member {
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
	return checkMessage(alg, msg)
}

func (fsmCrypto) Verify(a string, pub, msg, sig []byte) bool {
	alg, err := tss.ParseAlgorithm(a)
	return err == nil && tss.Verify(alg, pub, msg, sig)
}

// checkMessage enforces what each algorithm signs: ECDSA a 32-byte digest
// below the group order (tss-lib only checks its own placeholder), Ed25519
// the message itself, 1 to maxEd25519Message bytes.
func checkMessage(alg tss.Algorithm, msg []byte) error {
	switch alg {
	case tss.ECDSASecp256k1:
		if len(msg) != 32 {
			return fmt.Errorf("ecdsa-secp256k1 signs a 32-byte digest, got %d bytes", len(msg))
		}
		if new(big.Int).SetBytes(msg).Cmp(secp256k1.S256().N) >= 0 {
			return fmt.Errorf("ecdsa-secp256k1 digest must be below the group order")
		}
	case tss.Ed25519:
		if len(msg) == 0 || len(msg) > maxEd25519Message {
			return fmt.Errorf("ed25519 signs a message of 1 to %d bytes, got %d", maxEd25519Message, len(msg))
		}
	default:
		return fmt.Errorf("unknown algorithm %v", alg)
	}
	return nil
}
