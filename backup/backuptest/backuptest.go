// Package backuptest writes signed backups for tests: a state machine
// whose audit key is a generated Ed25519 key, its snapshot, the given
// sealed files, and the manifest signed by that key.
package backuptest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"

	"github.com/hashicorp/raft"

	"github.com/keyquorum/keyquorum/backup"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
)

// Backup is what Write made.
type Backup struct {
	Dir  string
	Pub  ed25519.PublicKey
	Priv ed25519.PrivateKey
}

type edCrypto struct{}

func (edCrypto) KnownAlgorithm(a string) bool         { return a == "ed25519" }
func (edCrypto) CheckMessage(string, []byte) error    { return nil }
func (edCrypto) Verify(_ string, p, m, s []byte) bool { return ed25519.Verify(p, m, s) }

type sink struct{ bytes.Buffer }

func (*sink) ID() string    { return "test" }
func (*sink) Cancel() error { return nil }
func (*sink) Close() error  { return nil }

// State returns the snapshot of a state machine whose active audit key is
// pub, held by members.
func State(pub ed25519.PublicKey, members []string) ([]byte, error) {
	f, err := fsm.NewFSM(fsm.DefaultFSMConfig(), edCrypto{})
	if err != nil {
		return nil, err
	}
	if err := f.EnableAudit(auditchain.DefaultConfig()); err != nil {
		return nil, err
	}
	cmds := []fsm.Command{&fsm.CreateKey{RequestID: "audit-key", Name: fsm.AuditKeyName, Algorithm: "ed25519",
		Threshold: 1, Members: members, Actor: fsm.NodeActor(members[0]), Time: 1e9}}
	for _, m := range members {
		cmds = append(cmds, &fsm.ShareStored{Key: fsm.AuditKeyName, Version: 1, Node: m, PublicKey: pub})
	}
	for i, c := range cmds {
		data, err := fsm.Encode(c)
		if err != nil {
			return nil, err
		}
		if res, _ := f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data}).(fsm.Result); res.Err != nil {
			return nil, res.Err
		}
	}
	snap, err := f.Snapshot()
	if err != nil {
		return nil, err
	}
	var s sink
	if err := snap.Persist(&s); err != nil {
		return nil, err
	}
	return s.Bytes(), nil
}

// Write writes to dir a backup of cluster clusterID whose raft
// configuration is members, holding files (backup paths, e.g.
// backup.NodePath("n1", "shares/k/v1.sealed")), signed by a new audit key.
func Write(dir, clusterID string, members []string, files map[string][]byte) (*Backup, error) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	state, err := State(pub, members)
	if err != nil {
		return nil, err
	}
	w, err := backup.NewWriter(dir)
	if err != nil {
		return nil, err
	}
	if _, err := w.WriteFile(backup.SnapshotFile, bytes.NewReader(state)); err != nil {
		return nil, err
	}
	facts, err := backup.Inspect(bytes.NewReader(state))
	if err != nil {
		return nil, err
	}
	for p, data := range files {
		if _, err := w.WriteFile(p, bytes.NewReader(data)); err != nil {
			return nil, err
		}
	}
	m := &backup.Manifest{Format: backup.Format, ClusterID: clusterID, Keys: facts.Keys,
		Snapshot: backup.Snapshot{File: backup.SnapshotFile, ID: "s", Index: 3, Term: 1, ConfigurationIndex: 1, Version: 1},
		Audit:    backup.Audit{Seq: facts.AuditSeq, Head: facts.AuditHead, Key: facts.AuditKey, PublicKey: hex.EncodeToString(facts.AuditPublicKey)},
		Files:    w.Files()}
	for i, id := range members {
		m.Snapshot.Servers = append(m.Snapshot.Servers, backup.Server{ID: id, Address: fmt.Sprintf("127.0.0.1:%d", 7000+i), Suffrage: "voter"})
		m.Nodes = append(m.Nodes, backup.Node{ID: id})
	}
	data, sum, err := backup.EncodeManifest(m)
	if err != nil {
		return nil, err
	}
	sig := backup.Signature{ManifestSHA256: hex.EncodeToString(sum[:]), Key: fsm.AuditKeyName, PublicKey: hex.EncodeToString(pub),
		Signature: hex.EncodeToString(ed25519.Sign(priv, backup.ManifestMessage(sum)))}
	if err := w.Finish(data, sig); err != nil {
		return nil, err
	}
	return &Backup{Dir: dir, Pub: pub, Priv: priv}, nil
}
