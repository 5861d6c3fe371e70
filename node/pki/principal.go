package pki

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/keyquorum/keyquorum/node/config"
)

// Principals are the client identities spiffe://<cluster>/client/<name>.
// The dev CA mints one at `kq certs init`, the bootstrap principal admin,
// whose pair keeps its historical file names client.pem and client.key;
// IssuePrincipal mints any other as <name>.pem and <name>.key.

// Admin is the bootstrap principal's name.
const Admin = clientUser

// principalPattern keeps principal names safe in file names and URIs and
// equal to the names a policy document may hold.
var principalPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidPrincipal reports whether name can be a principal's name.
func ValidPrincipal(name string) bool { return principalPattern.MatchString(name) }

// ErrPrincipalExists is returned when a principal's certificate is already
// in the directory; remove its pair to reissue it.
var ErrPrincipalExists = errors.New("pki: principal certificate exists")

// CADir is where the CA's private key lives for the certificates directory
// dir: the sibling directory "ca" (DATA_DIR/ca for DATA_DIR/certs). kqd
// never reads it.
func CADir(dir string) string { return filepath.Join(filepath.Dir(filepath.Clean(dir)), caName) }

func caKeyPath(dir string) string { return filepath.Join(CADir(dir), caName+".key") }

// PrincipalFiles returns the certificate and key paths of principal name in
// dir: client.pem and client.key for the bootstrap admin unless an admin
// pair was issued under its own name.
func PrincipalFiles(dir, name string) (cert, key string) {
	if name == Admin {
		if ok, _ := exists(filepath.Join(dir, Admin+".pem")); !ok {
			return pairPaths(dir, ClientName)
		}
	}
	return pairPaths(dir, name)
}

// IssuePrincipal mints a client certificate for principal name, valid for
// ttl, from the CA of dir, and writes it to dir as <name>.pem and
// <name>.key. It returns the paths written. A name that is a node's, or
// ca or client, is refused: those files belong to others.
func IssuePrincipal(dir string, c *config.Cluster, name string, ttl time.Duration) ([]string, error) {
	switch {
	case !ValidPrincipal(name):
		return nil, fmt.Errorf("pki: principal %q: use 1-63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	case name == caName || name == ClientName:
		return nil, fmt.Errorf("pki: principal name %q is reserved", name)
	case ttl <= 0:
		return nil, fmt.Errorf("pki: principal %q: ttl must be positive", name)
	}
	if _, ok := c.Node(name); ok {
		return nil, fmt.Errorf("pki: principal name %q is a node's id", name)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	now := time.Now()
	ca, moved, err := ensureCA(dir, c, now)
	if err != nil {
		return nil, err
	}
	certPath, keyPath := pairPaths(dir, name)
	if ok, err := exists(certPath); err != nil {
		return nil, err
	} else if ok {
		return moved, fmt.Errorf("%w: %s; remove it and %s to reissue", ErrPrincipalExists, certPath, filepath.Base(keyPath))
	}
	if err := ca.loadKey(dir, certPath); err != nil {
		return moved, err
	}
	spec := leafSpec{id: Identity{Kind: KindClient, Name: name, Cluster: c.ID}, validity: ttl}
	der, key, err := ca.issue(spec, now)
	if err != nil {
		return moved, err
	}
	if err := writePair(certPath, keyPath, der, key); err != nil {
		return moved, err
	}
	return append(moved, certPath, keyPath), nil
}

// loadKey reads the CA's private key, once, to issue certPath.
func (ca *authority) loadKey(dir, certPath string) error {
	if ca.key != nil {
		return nil
	}
	keyPath := caKeyPath(dir)
	key, err := readKey(keyPath)
	if err != nil {
		return fmt.Errorf("%w: cannot issue %s: %w", ErrCAMissing, certPath, err)
	}
	if !key.PublicKey.Equal(ca.cert.PublicKey) {
		return fmt.Errorf("%w: %s does not match %s", ErrCAMissing, keyPath, filepath.Join(dir, caName+".pem"))
	}
	ca.key = key
	return nil
}

// migrateCAKey moves a CA key that an older `kq certs init` left beside the
// certificates into CADir. It returns the paths it wrote.
func migrateCAKey(dir string, cert *x509.Certificate) ([]string, error) {
	old := filepath.Join(dir, caName+".key")
	if ok, err := exists(old); err != nil || !ok {
		return nil, err
	}
	key, err := readKey(old)
	if err != nil {
		return nil, err
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%w: %s does not match %s", ErrCAMissing, old, filepath.Join(dir, caName+".pem"))
	}
	newPath := caKeyPath(dir)
	var wrote []string
	if ok, err := exists(newPath); err != nil {
		return nil, err
	} else if !ok {
		if err := os.MkdirAll(CADir(dir), dirMode); err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		data, err := os.ReadFile(old)
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		if err := writeAtomic(newPath, data, keyMode); err != nil {
			return nil, err
		}
		wrote = append(wrote, newPath)
	}
	if err := os.Remove(old); err != nil {
		return wrote, fmt.Errorf("pki: remove the old CA key: %w", err)
	}
	return wrote, nil
}

// ClientTLSFiles is ClientTLS with a client pair named by its paths, for a
// principal whose certificate another CA issued or that lives elsewhere.
// The trusted root is still ca.pem in dir.
func ClientTLSFiles(dir, certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("pki: load %s: %w", certFile, err)
	}
	return clientTLS(dir, cert)
}
