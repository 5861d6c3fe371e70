// Package approval is an operator's side of a quorum ceremony: the Ed25519
// approval key kept in a file, and the checks and the confirmation that
// come before it signs a ceremony's digest.
package approval

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/internal/progress"
	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// WriteNewKey makes an approval key and writes it to path as PKCS#8 PEM,
// mode 0600; an existing file is never overwritten, so a key in use is
// never lost to a second keygen.
func WriteNewKey(path string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return pub, nil
}

// ReadKey reads a key file written by `kq operator keygen`.
func ReadKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%s: not a PEM private key (make one with kq operator keygen)", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: not an Ed25519 key", path)
	}
	return priv, nil
}

// CheckDigest re-derives the digest from the ceremony's own fields
// and its params, so an operator signs only what was shown: a node that
// lied about the params or the digest is caught here, before signing.
func CheckDigest(c *kqpb.Ceremony) ([]byte, error) {
	if c.State != string(ceremony.Pending) {
		return nil, fmt.Errorf("ceremony %s is %s: nothing to approve", c.Id, c.State)
	}
	sum := sha256.Sum256([]byte(c.ParamsJson))
	if hex.EncodeToString(sum[:]) != c.ParamsSha256 {
		return nil, fmt.Errorf("ceremony %s: params do not hash to params_sha256 %s: refusing to sign", c.Id, c.ParamsSha256)
	}
	d := audit.CeremonyDigest(c.Cluster, c.Id, c.Nonce, c.Kind, c.ParamsSha256, c.ExpiresAtUnixNano)
	if hex.EncodeToString(d[:]) != c.Digest {
		return nil, fmt.Errorf("ceremony %s: digest %s is not the digest of its fields (%x): refusing to sign", c.Id, c.Digest, d)
	}
	return d[:], nil
}

// Confirm shows the operator what the ceremony does and the digest about
// to be signed, and asks on a terminal; a script passes --yes instead.
func Confirm(w io.Writer, in *os.File, c *kqpb.Ceremony, pub string) error {
	fmt.Fprintf(w, "ceremony %s (%s), proposed by %s, %d of %d approvals counted, expires %s\n",
		c.Id, c.Kind, c.Proposer, c.Counted, c.Quorum, time.Unix(0, c.ExpiresAtUnixNano).UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "it will: %s\n", c.Summary)
	if c.Kind != string(policy.KindPolicyChange) && c.Kind != string(policy.KindOperators) {
		fmt.Fprintf(w, "params: %s\n", c.ParamsJson)
	}
	fmt.Fprintf(w, "digest: %s (re-derived here)\nyour key: %s\n", c.Digest, pub)
	if !progress.IsTerminal(in) {
		return errors.New("not asking on a non-terminal stdin: pass --yes to approve")
	}
	fmt.Fprint(w, "approve? [y/N] ")
	line, _ := bufio.NewReader(in).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return errors.New("not approved")
	}
	return nil
}
