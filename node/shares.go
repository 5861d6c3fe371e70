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
// version, and a cache of opened shares so signing needs no disk read.
type shareStore struct {
	dir, cluster, node string
	sealer             sealing.Sealer

	mu    sync.Mutex
	cache map[string]*tss.Share
}

func newShareStore(dir, cluster, node string, s sealing.Sealer) *shareStore {
	return &shareStore{dir: filepath.Join(dir, "shares"), cluster: cluster, node: node, sealer: s, cache: map[string]*tss.Share{}}
}

func (s *shareStore) binding(key string, version uint32) sealing.Binding {
	return sealing.Binding{ClusterID: s.cluster, NodeID: s.node, Kind: sealing.KindShare, KeyID: key, Version: version}
}

func (s *shareStore) path(key string, version uint32) string {
	return filepath.Join(s.dir, key, fmt.Sprintf("v%d.sealed", version))
}

// Has reports whether a sealed share exists for the key version.
func (s *shareStore) Has(key string, version uint32) bool {
	_, err := os.Stat(s.path(key, version))
	return err == nil
}

// Put seals and writes the share. The plaintext never touches the disk.
func (s *shareStore) Put(ctx context.Context, key string, version uint32, sh *tss.Share) error {
	plain, err := sh.MarshalBinary()
	if err != nil {
		return fmt.Errorf("node: encode share %s v%d: %w", key, version, err)
	}
	defer clear(plain)
	blob, err := s.sealer.Seal(ctx, s.binding(key, version), plain)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path(key, version)), 0o700); err != nil {
		return fmt.Errorf("node: share dir: %w", err)
	}
	if err := sealing.WriteFile(s.path(key, version), blob); err != nil {
		return err
	}
	s.mu.Lock()
	s.cache[s.path(key, version)] = sh
	s.mu.Unlock()
	return nil
}

// Get returns the opened share of the key version.
func (s *shareStore) Get(ctx context.Context, key string, version uint32) (*tss.Share, error) {
	p := s.path(key, version)
	s.mu.Lock()
	sh, ok := s.cache[p]
	s.mu.Unlock()
	if ok {
		return sh, nil
	}
	blob, err := sealing.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("node: no share of %s v%d on %s: %w", key, version, s.node, errNoShare)
	}
	if err != nil {
		return nil, err
	}
	plain, err := s.sealer.Open(ctx, s.binding(key, version), blob)
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

var errNoShare = errors.New("share not held")
