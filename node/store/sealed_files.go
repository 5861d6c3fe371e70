package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyquorum/keyquorum/backup"
)

// SealedFiles lists, as slash paths relative to the node's data directory,
// the sealed files a backup carries (backup.CheckSealedPath). Temporary
// files of an interrupted write start with a dot and are skipped.
func SealedFiles(dir string) ([]string, error) {
	var out []string
	for _, rel := range []string{"preparams.sealed", "tpm/kek.sealed"} {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel))); err == nil {
			out = append(out, rel)
		}
	}
	// Tenants' keys first: a restore opens them before the shares they seal.
	for _, root := range []string{filepath.Join(dir, "tenants"), filepath.Join(dir, "shares")} {
		if err := walkSealed(dir, root, &out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func walkSealed(dir, root string, out *[]string) error {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) && p == root {
			return fs.SkipAll
		}
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if backup.CheckSealedPath(rel) == nil {
			*out = append(*out, rel)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("node: list sealed files: %w", err)
	}
	return nil
}
