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

	"github.com/hashicorp/raft"

	"github.com/keyquorum/keyquorum/backup"
	"github.com/keyquorum/keyquorum/consensus"
)

type edCrypto struct{}

func (edCrypto) KnownAlgorithm(a string) bool         { return a == "ed25519" }
func (edCrypto) CheckMessage(string, []byte) error    { return nil }
func (edCrypto) Verify(_ string, p, m, s []byte) bool { return ed25519.Verify(p, m, s) }

// sink is a raft.SnapshotSink into memory.
type sink struct{ bytes.Buffer }

func (*sink) ID() string    { return "test" }
func (*sink) Cancel() error { return nil }
func (*sink) Close() error  { return nil }

// stateWithAuditKey returns a snapshot of a state machine whose audit key
// is pub, and that state's facts.
func stateWithAuditKey(t *testing.T, pub ed25519.PublicKey) []byte {
	t.Helper()
	f, err := consensus.NewFSM(consensus.DefaultFSMConfig(), edCrypto{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.EnableAudit(consensus.DefaultAuditConfig()); err != nil {
		t.Fatal(err)
	}
	idx := uint64(0)
	apply := func(c consensus.Command) {
		data, err := consensus.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		idx++
		if res, _ := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data}).(consensus.Result); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	apply(&consensus.CreateKey{RequestID: "audit-key", Name: consensus.AuditKeyName, Algorithm: "ed25519", Threshold: 1,
		Members: []string{"n1", "n2"}, Actor: consensus.NodeActor("n1"), Time: 1e9})
	for _, m := range []string{"n1", "n2"} {
		apply(&consensus.ShareStored{Key: consensus.AuditKeyName, Version: 1, Node: m, PublicKey: pub})
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s sink
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	return s.Bytes()
}

// writeBackup writes a backup of state, signed by priv, with two sealed
// files of n1.
func writeBackup(t *testing.T, dir string, state []byte, priv ed25519.PrivateKey) {
	t.Helper()
	w, err := backup.NewWriter(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.WriteFile(backup.SnapshotFile, bytes.NewReader(state)); err != nil {
		t.Fatal(err)
	}
	facts, err := backup.Inspect(bytes.NewReader(state))
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"shares/k/v1.sealed", "preparams.sealed"} {
		if _, err := w.WriteFile(backup.NodePath("n1", rel), strings.NewReader("sealed "+rel)); err != nil {
			t.Fatal(err)
		}
	}
	m := &backup.Manifest{Format: backup.Format, ClusterID: "c", Keys: facts.Keys,
		Snapshot: backup.Snapshot{File: backup.SnapshotFile, ID: "s", Index: 3, Term: 1, ConfigurationIndex: 1, Version: 1,
			Servers: []backup.Server{{ID: "n1", Address: "127.0.0.1:1", Suffrage: "voter"}}},
		Audit: backup.Audit{Seq: facts.AuditSeq, Head: facts.AuditHead, Key: facts.AuditKey, PublicKey: hex.EncodeToString(facts.AuditPublicKey)},
		Nodes: []backup.Node{{ID: "n1", Files: 2}}, Files: w.Files()}
	data, sum, err := backup.EncodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	sig := backup.Signature{ManifestSHA256: hex.EncodeToString(sum[:]), Key: consensus.AuditKeyName, PublicKey: hex.EncodeToString(pub),
		Signature: hex.EncodeToString(ed25519.Sign(priv, backup.ManifestMessage(sum)))}
	if err := w.Finish(data, sig); err != nil {
		t.Fatal(err)
	}
}

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
	sig, _ := json.Marshal(backup.Signature{ManifestSHA256: hex.EncodeToString(sum[:]), Key: consensus.AuditKeyName,
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
	pub, priv, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	state := stateWithAuditKey(t, pub)
	good := filepath.Join(t.TempDir(), "good")
	writeBackup(t, good, state, priv)
	rep, err := backup.Verify(good, pub)
	if err != nil {
		t.Fatalf("a fresh backup: %v", err)
	}
	if rep.Facts.AuditKey != consensus.AuditKeyName || !bytes.Equal(rep.Facts.AuditPublicKey, pub) || rep.Facts.Keys != 1 {
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
