package store

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/keyquorum/keyquorum/backup"
	"github.com/keyquorum/keyquorum/backup/backuptest"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/sealing"
)

// TestParseSharePathInvertsPath: restore finds each share's binding from
// its file name, so the parse must undo Shares.path exactly, and
// refuse what path never writes.
func TestParseSharePathInvertsPath(t *testing.T) {
	s := NewShares("/data/n1", "c", "n1", nil, nil)
	rapid.Check(t, func(t *rapid.T) {
		key := rapid.StringMatching(`[a-z0-9][a-z0-9_-]{0,8}(/[a-z0-9][a-z0-9_.-]{0,8})?`).Draw(t, "key")
		version := rapid.Uint32Range(1, 1<<31).Draw(t, "version")
		epoch := rapid.Uint32Range(0, 1<<31).Draw(t, "epoch")
		rel, err := filepath.Rel("/data/n1", s.path(key, version, epoch))
		if err != nil {
			t.Fatal(err)
		}
		k, v, e, err := parseSharePath(filepath.ToSlash(rel))
		if err != nil || k != key || v != version || e != epoch {
			t.Fatalf("parse(%q) = %q v%d e%d %v; want %q v%d e%d", rel, k, v, e, err, key, version, epoch)
		}
	})
	for _, bad := range []string{"shares/v1.sealed", "shares/k/v0.sealed", "shares/k/v1.e0.sealed", "shares/k/x1.sealed",
		"shares/k/v1.sealed.tmp", "preparams.sealed", "shares/k/v1.e.sealed", "shares/k/v-1.sealed"} {
		if _, _, _, err := parseSharePath(bad); err == nil {
			t.Errorf("parseSharePath(%q) accepted", bad)
		}
	}
}

// TestRestoreRefusesSharesAnotherTPMSealed: a backup whose share of n2
// was sealed by another TPM fails restore before anything is written: no
// share, no raft state; and a node without its sealed KEK is refused
// before its TPM is opened (which would make a new KEK).
func TestRestoreRefusesSharesAnotherTPMSealed(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	cfgPath := filepath.Join(root, "cluster.yaml")
	yaml := "cluster_id: kq-test\ndata_dir: data\nthreshold: 1\ntpm:\n  backend: simulator\nnodes:\n" +
		"  - id: n1\n    raft: 127.0.0.1:7000\n    peer: 127.0.0.1:7001\n    client: 127.0.0.1:7002\n" +
		"  - id: n2\n    raft: 127.0.0.1:7010\n    peer: 127.0.0.1:7011\n    client: 127.0.0.1:7012\n"
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cluster, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := cluster.Node("n2")
	dir := cluster.NodeDir("n2")
	log := slog.New(slog.DiscardHandler)

	// Another machine's TPM seals a share bound to n2.
	other, err := sealing.OpenTPM(ctx, sealing.DefaultConfig(filepath.Join(root, "elsewhere")), log)
	if err != nil {
		t.Fatal(err)
	}
	b := sealing.Binding{ClusterID: "kq-test", NodeID: "n2", Kind: sealing.KindShare, KeyID: "k", Version: 1}
	blob, err := other.Seal(ctx, b, []byte("a share"))
	other.Close()
	if err != nil {
		t.Fatal(err)
	}
	bk, err := backuptest.Write(filepath.Join(root, "backup"), "kq-test", []string{"n1", "n2"},
		map[string][]byte{backup.NodePath("n2", "shares/k/v1.sealed"): blob})
	if err != nil {
		t.Fatal(err)
	}

	// n2's tpm/ is gone: refused without opening (and so re-keying) it.
	if _, err := Restore(ctx, cluster, "n2", bk.Dir, bk.Pub, log); err == nil || !strings.Contains(err.Error(), "holds no sealed KEK") {
		t.Fatalf("restore without a sealed KEK: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "tpm", "kek.sealed")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("restore made a KEK: %v", err)
	}

	// n2's own TPM state exists, but it did not seal the share.
	tpm, err := sealing.OpenTPM(ctx, SealingConfig(cluster, self, dir), log)
	if err != nil {
		t.Fatal(err)
	}
	tpm.Close()
	_, err = Restore(ctx, cluster, "n2", bk.Dir, bk.Pub, log)
	if err == nil || !strings.Contains(err.Error(), "shares/k/v1.sealed does not open with n2's TPM") {
		t.Fatalf("restore of a share another TPM sealed: %v", err)
	}
	for _, p := range []string{"shares", "raft"} {
		if _, err := os.Stat(filepath.Join(dir, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a failed restore left %s: %v", p, err)
		}
	}
}
