package backup_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyquorum/keyquorum/backup"
	"github.com/keyquorum/keyquorum/backup/backuptest"
	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// resign rewrites the manifest through edit and signs it with priv.
func resign(t *testing.T, dir string, priv ed25519.PrivateKey, edit func(*backup.Manifest)) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, backup.ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	var m backup.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(&m)
	data, sum, err := backup.EncodeManifest(&m)
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	sig, _ := json.Marshal(backup.Signature{ManifestSHA256: hex.EncodeToString(sum[:]), Key: fsm.AuditKeyName,
		PublicKey: hex.EncodeToString(pub), Signature: hex.EncodeToString(ed25519.Sign(priv, backup.ManifestMessage(sum)))})
	must(t, os.WriteFile(filepath.Join(dir, backup.ManifestFile), data, 0o600))
	must(t, os.WriteFile(filepath.Join(dir, backup.SignatureFile), sig, 0o600))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestVerifyNamesEveryTampering: a backup verifies; each way of altering
// it fails with ErrTampered and a problem that names what changed.
func TestVerifyNamesEveryTampering(t *testing.T) {
	_, other, _ := ed25519.GenerateKey(nil)
	good := filepath.Join(t.TempDir(), "good")
	b, err := backuptest.Write(good, "c", []string{"n1", "n2"}, map[string][]byte{
		backup.NodePath("n1", "shares/k/v1.sealed"): []byte("sealed share"),
		backup.NodePath("n1", "preparams.sealed"):   []byte("sealed pre-params"),
	})
	must(t, err)
	pub, priv := b.Pub, b.Priv
	rep, err := backup.Verify(good, pub)
	if err != nil {
		t.Fatalf("a fresh backup: %v", err)
	}
	if rep.Facts.AuditKey != fsm.AuditKeyName || !bytes.Equal(rep.Facts.AuditPublicKey, pub) || rep.Facts.Keys != 1 {
		t.Fatalf("facts: %+v", rep.Facts)
	}

	share := filepath.Join("nodes", "n1", "shares", "k", "v1.sealed")
	cases := []struct {
		name   string
		tamper func(dir string)
		pin    ed25519.PublicKey
		want   string
	}{
		{"a flipped byte in a share", func(dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, share))
			b[0] ^= 1
			must(t, os.WriteFile(filepath.Join(dir, share), b, 0o600))
		}, nil, "nodes/n1/shares/k/v1.sealed: SHA-256"},
		{"a share removed", func(dir string) { must(t, os.Remove(filepath.Join(dir, share))) }, nil, "nodes/n1/shares/k/v1.sealed is missing"},
		{"a file added", func(dir string) {
			must(t, os.WriteFile(filepath.Join(dir, "nodes", "n1", "extra.sealed"), []byte("x"), 0o600))
		}, nil, "nodes/n1/extra.sealed is not in the manifest"},
		{"the manifest edited", func(dir string) {
			p := filepath.Join(dir, backup.ManifestFile)
			b, _ := os.ReadFile(p)
			must(t, os.WriteFile(p, bytes.Replace(b, []byte(`"keys": 1`), []byte(`"keys": 2`), 1), 0o600))
		}, nil, "the signature is for"},
		{"the manifest edited and its hash updated", func(dir string) {
			p := filepath.Join(dir, backup.ManifestFile)
			b, _ := os.ReadFile(p)
			b = bytes.Replace(b, []byte(`"cluster_id": "c"`), []byte(`"cluster_id": "d"`), 1)
			must(t, os.WriteFile(p, b, 0o600))
			var s backup.Signature
			sb, _ := os.ReadFile(filepath.Join(dir, backup.SignatureFile))
			must(t, json.Unmarshal(sb, &s))
			data, sum, _ := backup.EncodeManifest(mustManifest(t, b))
			must(t, os.WriteFile(p, data, 0o600))
			s.ManifestSHA256 = hex.EncodeToString(sum[:])
			sb, _ = json.Marshal(s)
			must(t, os.WriteFile(filepath.Join(dir, backup.SignatureFile), sb, 0o600))
		}, nil, "does not verify under audit key"},
		{"re-signed by another key", func(dir string) {
			resign(t, dir, other, func(*backup.Manifest) {})
		}, pub, "not the expected"},
		{"re-signed by another key that the manifest names", func(dir string) {
			resign(t, dir, other, func(m *backup.Manifest) { m.Audit.PublicKey = hex.EncodeToString(other.Public().(ed25519.PublicKey)) })
		}, nil, "the snapshot's audit key is"},
		{"a snapshot that does not decode", func(dir string) {
			p := filepath.Join(dir, filepath.FromSlash(backup.SnapshotFile))
			must(t, os.WriteFile(p, []byte(`{"keys":null}`), 0o600))
			resign(t, dir, priv, func(m *backup.Manifest) {
				for i, f := range m.Files {
					if f.Path == backup.SnapshotFile {
						m.Files[i] = fileOf(t, dir, f.Path)
					}
				}
			})
		}, nil, "snapshot does not decode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "b")
			must(t, os.CopyFS(dir, os.DirFS(good)))
			tc.tamper(dir)
			rep, err := backup.Verify(dir, tc.pin)
			if !errors.Is(err, backup.ErrTampered) {
				t.Fatalf("verify: %v, want ErrTampered", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("verify: %v\nwant a problem naming %q", err, tc.want)
			}
			if rep != nil && len(rep.Problems) == 0 {
				t.Fatal("an error without problems listed")
			}
		})
	}
}

func mustManifest(t *testing.T, b []byte) *backup.Manifest {
	t.Helper()
	var m backup.Manifest
	must(t, json.Unmarshal(b, &m))
	return &m
}

func fileOf(t *testing.T, dir, rel string) backup.File {
	t.Helper()
	w, err := backup.NewWriter(t.TempDir())
	must(t, err)
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(rel)))
	must(t, err)
	defer f.Close()
	out, err := w.WriteFile(rel, f)
	must(t, err)
	return out
}

// TestCheckSealedPath: only sealed files travel in a backup, and never
// out of the node's data directory.
func TestCheckSealedPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"shares/ec/v1.sealed", true},
		{"shares/acme/pay/v2.e3.sealed", true},
		{"preparams.sealed", true},
		{"tpm/kek.sealed", true},
		{"tpm/kek.auth", false},
		{"tpm/simulator.seed", false},
		{"raft/raft.db", false},
		{"shares/../tpm/kek.auth", false},
		{"../n2/preparams.sealed", false},
		{"/etc/passwd", false},
		{"shares/ec/v1.sealed.tmp", false},
		{"", false},
	} {
		if err := backup.CheckSealedPath(tc.path); (err == nil) != tc.ok {
			t.Errorf("CheckSealedPath(%q) = %v, want ok %v", tc.path, err, tc.ok)
		}
	}
}

// TestNewWriterRefusesANonEmptyDir: a backup never mixes with other files.
func TestNewWriterRefusesANonEmptyDir(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "x"), nil, 0o600))
	if _, err := backup.NewWriter(dir); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("NewWriter on a non-empty dir: %v", err)
	}
	w, err := backup.NewWriter(filepath.Join(dir, "new"))
	must(t, err)
	if _, err := w.WriteFile("../escape", strings.NewReader("x")); err == nil {
		t.Fatal("WriteFile outside the backup succeeded")
	}
}
