// Package backup is the format of a keyquorum backup directory: a raft
// snapshot of the cluster's replicated state, the sealed files of every
// node that answered, a manifest listing each file with its SHA-256, and
// the manifest's signature by the cluster's audit key. It writes that
// directory and verifies it offline, from the directory alone.
//
// A backup holds no plaintext key material. The snapshot is the replicated
// state (public keys, versions, policy, handle hashes, the audit chain's
// head), which every member already holds; sealed files open only inside
// the TPM of the node that sealed them (package sealing). A backup can
// restore a node whose disk was lost but whose TPM survived, and the raft
// state of a cluster that lost its disks; it cannot bring back a share
// whose TPM is gone.
package backup

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/raft"
)

// Format names the layout this package writes and reads.
const Format = "keyquorum-backup/1"

// Files at the top of a backup directory.
const (
	ManifestFile  = "manifest.json"
	SignatureFile = "manifest.sig.json"
	SnapshotFile  = "snapshot/state.bin"
)

// manifestTag separates what the audit key signs for a backup from its
// checkpoint messages (consensus/audit.CheckpointMessage) and any other
// message it could be asked to sign.
const manifestTag = "keyquorum/backup/manifest/v1"

// ManifestMessage is what the audit key signs for a manifest: the tag
// followed by the manifest's SHA-256.
func ManifestMessage(sum [sha256.Size]byte) []byte {
	return append([]byte(manifestTag), sum[:]...)
}

// Manifest describes a backup. Its JSON bytes, as written, are what the
// signature covers.
type Manifest struct {
	Format    string    `json:"format"`
	ClusterID string    `json:"cluster_id"`
	Created   time.Time `json:"created"`
	Snapshot  Snapshot  `json:"snapshot"`
	Audit     Audit     `json:"audit"`
	// Keys counts the keys in the snapshot, the audit key included.
	Keys  int    `json:"keys"`
	Nodes []Node `json:"nodes"`
	Files []File `json:"files"`
}

// Snapshot is the raft snapshot's metadata: what installing it as a
// member's raft state needs.
type Snapshot struct {
	File               string   `json:"file"`
	ID                 string   `json:"id"`
	Index              uint64   `json:"index"`
	Term               uint64   `json:"term"`
	ConfigurationIndex uint64   `json:"configuration_index"`
	Version            int      `json:"version"`
	Servers            []Server `json:"servers"`
}

// Server is a member of the snapshot's raft configuration.
type Server struct {
	ID       string `json:"id"`
	Address  string `json:"address"`
	Suffrage string `json:"suffrage"`
}

// Audit is the audit chain's head in the snapshot and the audit key.
type Audit struct {
	Seq       uint64 `json:"seq"`
	Head      string `json:"head"`
	Key       string `json:"key"`
	PublicKey string `json:"public_key"` // hex Ed25519
}

// Node says what the backup holds of one node's sealed files; Error says
// why it holds none.
type Node struct {
	ID    string `json:"id"`
	Files int    `json:"files"`
	Bytes int64  `json:"bytes"`
	Error string `json:"error,omitempty"`
}

// File is one file of the backup, by slash path relative to its root.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Signature is the audit key's signature of the manifest.
type Signature struct {
	ManifestSHA256 string `json:"manifest_sha256"`
	Key            string `json:"key"`
	PublicKey      string `json:"public_key"` // hex Ed25519
	Signature      string `json:"signature"`  // hex
	RequestID      string `json:"request_id"` // the signing request in the audit trail
}

// NodePath is where a node's sealed file rel (relative to its data
// directory) lives in a backup.
func NodePath(node, rel string) string { return path.Join("nodes", node, rel) }

// sealedFiles, shares/ and tenants/ are the only places a node's sealed files may come from
// or go back to, relative to its data directory.
var sealedFiles = []string{"preparams.sealed", "tpm/kek.sealed"}

// CheckSealedPath reports whether rel names a sealed file a backup may
// carry: a share under shares/, a tenant's key under tenants/, the
// pre-params or the sealed KEK; never
// an absolute path, a "..", the KEK's auth value or raft state.
func CheckSealedPath(rel string) error {
	clean := path.Clean(rel)
	switch {
	case rel == "" || clean != rel || path.IsAbs(rel) || strings.HasPrefix(rel, "../") || rel == "..":
		return fmt.Errorf("backup: sealed path %q is not clean and relative", rel)
	case slices.Contains(sealedFiles, rel):
		return nil
	case strings.HasPrefix(rel, "shares/") && strings.HasSuffix(rel, ".sealed"):
		return nil
	case strings.HasPrefix(rel, "tenants/") && strings.HasSuffix(rel, ".key.sealed"):
		return nil // a tenant's data-encryption key, sealed by the KEK
	}
	return fmt.Errorf("backup: %q is not a sealed file a backup carries", rel)
}

// Writer writes the files of a new backup directory, each fsynced, and
// remembers their hashes for the manifest.
type Writer struct {
	dir   string
	files []File
}

// NewWriter creates dir, which must not exist or be empty.
func NewWriter(dir string) (*Writer, error) {
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("backup: %s is not empty", dir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("backup: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return &Writer{dir: dir}, nil
}

// Dir is the backup directory.
func (w *Writer) Dir() string { return w.dir }

// Files are the files written so far, in order.
func (w *Writer) Files() []File { return slices.Clone(w.files) }

// WriteFile writes the content of r to the slash path rel and records it.
func (w *Writer) WriteFile(rel string, r io.Reader) (File, error) {
	f := File{Path: rel}
	if path.Clean(rel) != rel || path.IsAbs(rel) || strings.HasPrefix(rel, "..") {
		return f, fmt.Errorf("backup: path %q is not clean and relative", rel)
	}
	p := filepath.Join(w.dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return f, fmt.Errorf("backup: %w", err)
	}
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return f, fmt.Errorf("backup: %w", err)
	}
	h := sha256.New()
	f.Size, err = io.Copy(io.MultiWriter(out, h), r)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(p) // a torn file must not be mistaken for a tampered one
		return f, fmt.Errorf("backup: write %s: %w", rel, err)
	}
	f.SHA256 = hex.EncodeToString(h.Sum(nil))
	w.files = append(w.files, f)
	return f, nil
}

// Open opens a file already written, by slash path.
func (w *Writer) Open(rel string) (*os.File, error) {
	return os.Open(filepath.Join(w.dir, filepath.FromSlash(rel)))
}

// EncodeManifest returns the manifest's bytes as written and their
// SHA-256, the value the audit key signs (through ManifestMessage).
func EncodeManifest(m *Manifest) ([]byte, [sha256.Size]byte, error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, [sha256.Size]byte{}, fmt.Errorf("backup: manifest: %w", err)
	}
	data = append(data, '\n')
	return data, sha256.Sum256(data), nil
}

// Finish writes the manifest bytes and their signature.
func (w *Writer) Finish(manifest []byte, sig Signature) error {
	sigData, err := json.MarshalIndent(sig, "", "  ")
	if err != nil {
		return fmt.Errorf("backup: signature: %w", err)
	}
	if _, err := w.WriteFile(ManifestFile, bytes.NewReader(manifest)); err != nil {
		return err
	}
	if _, err := w.WriteFile(SignatureFile, bytes.NewReader(append(sigData, '\n'))); err != nil {
		return err
	}
	return syncDir(w.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// RaftMeta is the snapshot's metadata as raft takes it.
func (s Snapshot) RaftMeta() (*raft.SnapshotMeta, error) {
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersion(s.Version), ID: s.ID, Index: s.Index, Term: s.Term,
		ConfigurationIndex: s.ConfigurationIndex}
	for _, sv := range s.Servers {
		var suf raft.ServerSuffrage
		switch sv.Suffrage {
		case "voter":
			suf = raft.Voter
		case "nonvoter":
			suf = raft.Nonvoter
		case "staging":
			suf = raft.Staging
		default:
			return nil, fmt.Errorf("backup: server %s: unknown suffrage %q", sv.ID, sv.Suffrage)
		}
		meta.Configuration.Servers = append(meta.Configuration.Servers, raft.Server{Suffrage: suf, ID: raft.ServerID(sv.ID), Address: raft.ServerAddress(sv.Address)})
	}
	if meta.Index == 0 || meta.Term == 0 || len(meta.Configuration.Servers) == 0 {
		return nil, errors.New("backup: snapshot metadata has no index, term or servers")
	}
	return meta, nil
}

// VerifySignature checks sig against the manifest bytes: the hash it names
// and the Ed25519 signature over ManifestMessage.
func VerifySignature(manifest []byte, sig Signature) error {
	sum := sha256.Sum256(manifest)
	if sig.ManifestSHA256 != hex.EncodeToString(sum[:]) {
		return fmt.Errorf("%w: the manifest's SHA-256 is %x, the signature is for %s", ErrTampered, sum, sig.ManifestSHA256)
	}
	pub, err := hex.DecodeString(sig.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: the signature's public key is not a hex Ed25519 key", ErrTampered)
	}
	s, err := hex.DecodeString(sig.Signature)
	if err != nil || !ed25519.Verify(pub, ManifestMessage(sum), s) {
		return fmt.Errorf("%w: the manifest's signature does not verify under audit key %s", ErrTampered, sig.PublicKey)
	}
	return nil
}

// ErrTampered marks a backup that failed verification: a file changed,
// missing or added, or a signature that does not verify.
var ErrTampered = errors.New("backup does not verify")
