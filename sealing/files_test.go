package sealing

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomicReplaceAndMode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v1.sealed")
	if _, err := ReadFile(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	for _, content := range [][]byte{[]byte("first"), []byte("second, longer")} {
		if err := WriteFile(path, content); err != nil {
			t.Fatal(err)
		}
		got, err := ReadFile(path)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("ReadFile = %q, %v", got, err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
	nested := filepath.Join(dir, "shares", "k1", "v1.sealed")
	if err := WriteFile(nested, []byte("x")); err != nil {
		t.Fatalf("write with missing parents: %v", err)
	}
	if fi, err := os.Stat(filepath.Dir(nested)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("created dir: %v, %v", fi, err)
	}
	if err := WriteFile(filepath.Join(path, "x"), []byte("x")); err == nil {
		t.Fatal("write below a regular file succeeded")
	}
}
