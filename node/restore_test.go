package node

import (
	"path/filepath"
	"testing"

	"pgregory.net/rapid"
)

// TestParseSharePathInvertsPath: restore finds each share's binding from
// its file name, so the parse must undo shareStore.path exactly, and
// refuse what path never writes.
func TestParseSharePathInvertsPath(t *testing.T) {
	s := newShareStore("/data/n1", "c", "n1", nil)
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
