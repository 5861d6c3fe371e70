package sealing

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile stores blob at path atomically and durably with mode 0600: it
// writes a temporary file in the same directory, fsyncs it, renames it over
// path and fsyncs the directory, so after a crash path holds either the old
// or the new content, never a torn mix. Missing parent directories are
// created with mode 0700 and made durable too.
func WriteFile(path string, blob []byte) (err error) {
	dir := filepath.Dir(path)
	if err := mkdirAllDurable(dir); err != nil {
		return fmt.Errorf("sealing: write %s: %w", path, err)
	}
	var suffix [8]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return fmt.Errorf("sealing: write %s: %w", path, err)
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".tmp-"+hex.EncodeToString(suffix[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("sealing: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(blob); err != nil {
		return fmt.Errorf("sealing: write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("sealing: fsync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("sealing: close %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("sealing: rename %s: %w", path, err)
	}
	if err = syncDir(dir); err != nil {
		return fmt.Errorf("sealing: fsync dir of %s: %w", path, err)
	}
	return nil
}

// ReadFile returns the blob stored at path. A missing file yields an error
// satisfying errors.Is(err, fs.ErrNotExist).
func ReadFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sealing: read %s: %w", path, err)
	}
	return b, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// mkdirAllDurable creates dir and its missing ancestors with mode 0700,
// fsyncing each new directory's parent so the entries survive a crash.
func mkdirAllDurable(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllDurable(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}
