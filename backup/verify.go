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
	"path/filepath"
	"strings"

	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// Facts are what a backup's snapshot says about the cluster, read by
// restoring it into a fresh state machine (the replicas' own Restore).
type Facts struct {
	Keys           int
	AuditSeq       uint64
	AuditHead      string
	AuditKey       string
	AuditPublicKey []byte // nil before the audit key exists
}

// Inspect decodes a snapshot with the state machine's own Restore, which
// refuses what a replica would refuse, and returns its facts.
func Inspect(r io.Reader) (Facts, error) {
	fsm, err := fsm.NewFSM(fsm.DefaultFSMConfig(), noCrypto{})
	if err != nil {
		return Facts{}, err
	}
	if err := fsm.Restore(io.NopCloser(r)); err != nil {
		return Facts{}, fmt.Errorf("backup: snapshot does not decode: %w", err)
	}
	h := fsm.AuditHead()
	f := Facts{Keys: len(fsm.Keys()), AuditSeq: h.Seq, AuditHead: h.Hash}
	if k, _, ok := fsm.AuditKey(); ok && k.Primary != 0 {
		f.AuditKey, f.AuditPublicKey = k.Name, k.PublicKey()
	}
	return f, nil
}

// noCrypto serves a state machine that only restores a snapshot.
type noCrypto struct{}

func (noCrypto) KnownAlgorithm(string) bool                 { return false }
func (noCrypto) CheckMessage(string, []byte) error          { return errors.New("backup: read-only state") }
func (noCrypto) Verify(string, []byte, []byte, []byte) bool { return false }

// Report is the outcome of Verify.
type Report struct {
	Manifest  *Manifest
	Signature Signature
	Facts     Facts
	// Problems lists every check that failed; empty when the backup
	// verifies.
	Problems []string
}

// Verify checks a backup directory offline: the manifest's signature by
// the audit key (and, when pin is set, that the key is pin), every listed
// file's size and SHA-256, that no file is missing or unlisted, that the
// snapshot decodes as a replica would decode it, and that the snapshot's
// audit key and chain head are those the manifest names. It returns an
// error wrapping ErrTampered that lists every problem found.
func Verify(dir string, pin ed25519.PublicKey) (*Report, error) {
	rep := &Report{}
	fail := func(format string, a ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(format, a...)) }
	manifest, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	sigData, err := os.ReadFile(filepath.Join(dir, SignatureFile))
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	m := &Manifest{}
	if err := strictDecode(manifest, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTampered, ManifestFile, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("backup: format %q, this build reads %q", m.Format, Format)
	}
	rep.Manifest = m
	if err := strictDecode(sigData, &rep.Signature); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrTampered, SignatureFile, err)
	}
	if err := VerifySignature(manifest, rep.Signature); err != nil {
		fail("%s", strings.TrimPrefix(err.Error(), ErrTampered.Error()+": "))
	}
	if pin != nil && rep.Signature.PublicKey != hex.EncodeToString(pin) {
		fail("signed by audit key %s, not the expected %x", rep.Signature.PublicKey, []byte(pin))
	}
	if rep.Signature.PublicKey != m.Audit.PublicKey {
		fail("signed by audit key %s, the manifest names %s", rep.Signature.PublicKey, m.Audit.PublicKey)
	}

	listed := map[string]bool{ManifestFile: true, SignatureFile: true}
	for _, f := range m.Files {
		if listed[f.Path] {
			fail("%s is listed twice", f.Path)
			continue
		}
		listed[f.Path] = true
		if err := checkFile(dir, f); err != nil {
			fail("%v", err)
		}
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if !listed[filepath.ToSlash(rel)] {
			fail("%s is not in the manifest", filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}

	if !listed[m.Snapshot.File] {
		fail("the snapshot %q is not in the manifest", m.Snapshot.File)
	} else if _, err := m.Snapshot.RaftMeta(); err != nil {
		fail("%v", err)
	} else if f, err := os.Open(filepath.Join(dir, filepath.FromSlash(m.Snapshot.File))); err != nil {
		fail("snapshot: %v", err)
	} else {
		rep.Facts, err = Inspect(f)
		f.Close()
		switch {
		case err != nil:
			fail("%v", err)
		case hex.EncodeToString(rep.Facts.AuditPublicKey) != m.Audit.PublicKey:
			fail("the snapshot's audit key is %x, the manifest names %s", rep.Facts.AuditPublicKey, m.Audit.PublicKey)
		case rep.Facts.AuditSeq != m.Audit.Seq || rep.Facts.AuditHead != m.Audit.Head:
			fail("the snapshot's audit head is %d %s, the manifest names %d %s", rep.Facts.AuditSeq, rep.Facts.AuditHead, m.Audit.Seq, m.Audit.Head)
		case rep.Facts.Keys != m.Keys:
			fail("the snapshot holds %d keys, the manifest says %d", rep.Facts.Keys, m.Keys)
		}
	}
	if len(rep.Problems) > 0 {
		return rep, fmt.Errorf("%w: %s", ErrTampered, strings.Join(rep.Problems, "; "))
	}
	return rep, nil
}

// checkFile compares one listed file with its size and hash.
func checkFile(dir string, f File) error {
	if !filepath.IsLocal(filepath.FromSlash(f.Path)) {
		return fmt.Errorf("%s: not a path inside the backup", f.Path)
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is missing", f.Path)
	}
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if int64(len(data)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
		return fmt.Errorf("%s: SHA-256 %x (%d bytes), the manifest says %s (%d bytes)", f.Path, sum, len(data), f.SHA256, f.Size)
	}
	return nil
}

func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}
