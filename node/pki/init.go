package pki

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/keyquorum/keyquorum/node/config"
)

// File names inside the certificates directory.
const (
	caName     = "ca"
	ClientName = "client" // the operator client's certificate, client.pem
	clientUser = "admin"  // the name in the client certificate's identity
)

// Init makes sure dir holds the cluster's CA, a certificate and key for every
// node, and the operator client's; see Ensure.
func Init(dir string, c *config.Cluster) error {
	_, err := Ensure(dir, c)
	return err
}

// Ensure creates in dir, when absent: ca.pem, with its key ca.key in
// CADir(dir) (ECDSA P-256, ten years); <id>.pem and <id>.key per node, for server and client
// authentication, naming 127.0.0.1, localhost and the hosts of the node's
// addresses, with identity spiffe://<cluster>/node/<id>; and client.pem and
// client.key with identity spiffe://<cluster>/client/admin. Existing pairs
// are kept, so it is idempotent and a node added later gets a certificate.
// It returns the paths it wrote, in order.
//
// Concurrent calls on one machine are serialised with a lock file. Ensure
// fails if an existing certificate was not issued by the CA in dir, if the
// CA belongs to another cluster, or with ErrCAMissing if a certificate must
// be issued and the CA key is missing.
func Ensure(dir string, c *config.Cluster) (created []string, err error) {
	for _, n := range c.Nodes {
		if n.ID == caName || n.ID == ClientName {
			return nil, fmt.Errorf("pki: node id %q is reserved for %s.pem", n.ID, n.ID)
		}
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	now := time.Now()
	ca, created, err := ensureCA(dir, c, now)
	if err != nil {
		return nil, err
	}
	specs := make([]leafSpec, 0, len(c.Nodes)+1)
	for _, n := range c.Nodes {
		specs = append(specs, leafSpec{
			id:     Identity{Kind: KindNode, Name: n.ID, Cluster: c.ID},
			server: true,
			hosts:  nodeHosts(n),
		})
	}
	specs = append(specs, leafSpec{id: Identity{Kind: KindClient, Name: clientUser, Cluster: c.ID}})
	for _, spec := range specs {
		name := spec.id.Name
		if spec.id.Kind == KindClient {
			name = ClientName
		}
		wrote, err := ensureLeaf(dir, name, ca, spec, now)
		if err != nil {
			return created, err
		}
		created = append(created, wrote...)
	}
	return created, nil
}

// ensureCA loads the CA in dir or, when dir holds no certificates at all,
// creates one. Its private key goes to CADir(dir), never to dir: kqd reads
// dir, and a node that is broken into must not find the key that mints
// identities beside its own.
func ensureCA(dir string, c *config.Cluster, now time.Time) (*authority, []string, error) {
	certPath := filepath.Join(dir, caName+".pem")
	keyPath := caKeyPath(dir)
	haveCert, err := exists(certPath)
	if err != nil {
		return nil, nil, err
	}
	if !haveCert {
		leaves, err := filepath.Glob(filepath.Join(dir, "*.pem"))
		if err != nil {
			return nil, nil, fmt.Errorf("pki: %w", err)
		}
		if len(leaves) > 0 {
			return nil, nil, fmt.Errorf("%w: %s is absent but %s exists; remove the directory to start over", ErrCAMissing, certPath, leaves[0])
		}
		cert, key, err := newCA(c.ID, now)
		if err != nil {
			return nil, nil, err
		}
		if err := os.MkdirAll(CADir(dir), dirMode); err != nil {
			return nil, nil, fmt.Errorf("pki: %w", err)
		}
		if err := writePair(certPath, keyPath, cert.Raw, key); err != nil {
			return nil, nil, err
		}
		return &authority{cert: cert, key: key}, []string{certPath, keyPath}, nil
	}
	cert, err := readCert(certPath)
	if err != nil {
		return nil, nil, err
	}
	if cluster, err := caCluster(cert); err != nil {
		return nil, nil, fmt.Errorf("pki: %s: %w", certPath, err)
	} else if cluster != c.ID {
		return nil, nil, fmt.Errorf("%w: %s is the CA of cluster %q, not %q", ErrForeignCluster, certPath, cluster, c.ID)
	}
	moved, err := migrateCAKey(dir, cert)
	if err != nil {
		return nil, nil, err
	}
	return &authority{cert: cert}, moved, nil
}

// ensureLeaf keeps an existing pair issued by ca, or issues a new one.
func ensureLeaf(dir, name string, ca *authority, spec leafSpec, now time.Time) ([]string, error) {
	certPath, keyPath := pairPaths(dir, name)
	haveCert, err := exists(certPath)
	if err != nil {
		return nil, err
	}
	haveKey, err := exists(keyPath)
	if err != nil {
		return nil, err
	}
	if haveCert && haveKey {
		cert, err := readCert(certPath)
		if err != nil {
			return nil, err
		}
		if err := cert.CheckSignatureFrom(ca.cert); err != nil {
			return nil, fmt.Errorf("pki: %s was not issued by the CA in %s; remove it to reissue: %w", certPath, dir, err)
		}
		return nil, nil
	}
	if err := ca.loadKey(dir, certPath); err != nil {
		return nil, err
	}
	der, key, err := ca.issue(spec, now)
	if err != nil {
		return nil, err
	}
	if err := writePair(certPath, keyPath, der, key); err != nil {
		return nil, err
	}
	return []string{certPath, keyPath}, nil
}

func pairPaths(dir, name string) (cert, key string) {
	return filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
}

// nodeHosts lists the names a node's server certificate covers: loopback
// and the host part of each of its addresses.
func nodeHosts(n config.NodeConfig) []string {
	hosts := []string{"127.0.0.1", "localhost"}
	for _, addr := range []string{n.Raft, n.Peer, n.Client} {
		h, _, err := net.SplitHostPort(addr)
		if err != nil || h == "" || slices.Contains(hosts, h) {
			continue
		}
		hosts = append(hosts, h)
	}
	return hosts
}

// caPool loads ca.pem from dir as the only trusted root.
func caPool(dir string) (*x509.CertPool, error) {
	cert, err := readCert(filepath.Join(dir, caName+".pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}
