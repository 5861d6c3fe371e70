package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/keyquorum/keyquorum/sealing"
	"github.com/keyquorum/keyquorum/tss"
)

// shareStore keeps this node's key shares sealed on disk, one file per key
// version and share epoch, and a cache of opened shares so signing needs no
// disk read.
type shareStore struct {
	dir, cluster, node string
	sealer             sealing.Sealer

	mu    sync.Mutex
	cache map[string]*tss.Share
}

func newShareStore(dir, cluster, node string, s sealing.Sealer) *shareStore {
	return &shareStore{dir: filepath.Join(dir, "shares"), cluster: cluster, node: node, sealer: s, cache: map[string]*tss.Share{}}
}

func (s *shareStore) binding(key string, version, epoch uint32) sealing.Binding {
	return sealing.Binding{ClusterID: s.cluster, NodeID: s.node, Kind: sealing.KindShare, KeyID: key, Version: version, Epoch: epoch}
}

func (s *shareStore) path(key string, version, epoch uint32) string {
	if epoch == 0 {
		return filepath.Join(s.dir, key, fmt.Sprintf("v%d.sealed", version))
	}
	return filepath.Join(s.dir, key, fmt.Sprintf("v%d.e%d.sealed", version, epoch))
}

// Has reports whether a sealed share exists for the key version and epoch.
func (s *shareStore) Has(key string, version, epoch uint32) bool {
	_, err := os.Stat(s.path(key, version, epoch))
	return err == nil
}

// Put seals and writes the share. The plaintext never touches the disk.
func (s *shareStore) Put(ctx context.Context, key string, version, epoch uint32, sh *tss.Share) error {
	plain, err := sh.MarshalBinary()
	if err != nil {
		return fmt.Errorf("node: encode share %s v%d: %w", key, version, err)
	}
	defer clear(plain)
	blob, err := s.sealer.Seal(ctx, s.binding(key, version, epoch), plain)
	if err != nil {
		return err
	}
	p := s.path(key, version, epoch)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("node: share dir: %w", err)
	}
	if err := sealing.WriteFile(p, blob); err != nil {
		return err
	}
	s.mu.Lock()
	s.cache[p] = sh
	s.mu.Unlock()
	return nil
}

// Get returns the opened share of the key version at epoch.
func (s *shareStore) Get(ctx context.Context, key string, version, epoch uint32) (*tss.Share, error) {
	p := s.path(key, version, epoch)
	s.mu.Lock()
	sh, ok := s.cache[p]
	s.mu.Unlock()
	if ok {
		return sh, nil
	}
	blob, err := sealing.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("node: no share of %s v%d (epoch %d) on %s: %w", key, version, epoch, s.node, errNoShare)
	}
	if err != nil {
		return nil, err
	}
	plain, err := s.sealer.Open(ctx, s.binding(key, version, epoch), blob)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	sh, err = tss.UnmarshalShare(plain)
	if err != nil {
		return nil, fmt.Errorf("node: share of %s v%d: %w", key, version, err)
	}
	s.mu.Lock()
	s.cache[p] = sh
	s.mu.Unlock()
	return sh, nil
}

// Destroy crypto-shreds the share of the key version at epoch: it wipes the
// cached plaintext, overwrites the sealed file, syncs, and unlinks it. The
// TPM key that sealed it is shared with other shares, so the file itself
// must go; overwriting first keeps the ciphertext out of free blocks on
// file systems that write in place. A share already gone is not an error.
func (s *shareStore) Destroy(key string, version, epoch uint32) error {
	p := s.path(key, version, epoch)
	s.mu.Lock()
	if sh, ok := s.cache[p]; ok {
		sh.Wipe()
		delete(s.cache, p)
	}
	s.mu.Unlock()
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("node: destroy share %s v%d: %w", key, version, err)
	}
	st, err := f.Stat()
	if err == nil {
		_, err = f.Write(make([]byte, st.Size()))
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("node: overwrite share %s v%d: %w", key, version, err)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("node: remove share %s v%d: %w", key, version, err)
	}
	return syncDir(filepath.Dir(p))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

var errNoShare = errors.New("share not held")
