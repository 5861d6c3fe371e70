package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/keyquorum/keyquorum/node/secmem"
	"github.com/keyquorum/keyquorum/sealing"
	"github.com/keyquorum/keyquorum/tss"
)

// shareIdle is how long an opened share stays cached without use. Reopening
// costs a file read, an envelope open (the TPM unsealed the KEK at start)
// and a decode that re-validates the share: about 10 ms of CPU for Ed25519,
// where checking the secret against its public point dominates, and less
// for ECDSA (BenchmarkShareReopen). Once per idle period, nobody notices.
const shareIdle = 10 * time.Minute

// Shares keeps this node's key shares sealed on disk, one file per key
// version and share epoch, and a cache of opened shares so signing needs no
// disk read. A cached share's secrets live in protected memory (secmem). A
// share unused for idle leaves the cache, and its secret words are zeroed
// as soon as no session holds them any more (see secmem.Region); Destroy zeroes
// them at once.
type Shares struct {
	dir, cluster, node string
	sealer             Sealer
	// tenants seals each tenant's shares under its own key; nil seals
	// every share under sealer (a store tested alone).
	tenants *TenantKeys
	mem     *secmem.Mem
	idle    time.Duration

	mu    sync.Mutex
	cache map[string]*openShare
}

// openShare is one cached plaintext share.
type openShare struct {
	sh    *tss.Share
	used  time.Time // last Get or Put
	timer *time.Timer
}

// NewShares returns the share store of member node of cluster under the
// data directory dir. tenants seals each tenant's shares under its own
// key; nil seals every share under s.
func NewShares(dir, cluster, node string, s Sealer, tenants *TenantKeys) *Shares {
	return &Shares{dir: filepath.Join(dir, "shares"), cluster: cluster, node: node, sealer: s, tenants: tenants,
		mem: secmem.New(nil, "shares"), idle: shareIdle, cache: map[string]*openShare{}}
}

func (s *Shares) binding(key string, version, epoch uint32) sealing.Binding {
	return sealing.Binding{ClusterID: s.cluster, NodeID: s.node, Kind: sealing.KindShare, KeyID: key, Version: version, Epoch: epoch}
}

// sealerFor returns the sealer of key's shares and their binding: under
// the key's tenant's data-encryption key, bound to the tenant, except in
// the default tenant. create makes a missing tenant key (Put).
func (s *Shares) sealerFor(ctx context.Context, key string, version, epoch uint32, create bool) (Sealer, sealing.Binding, error) {
	b := s.binding(key, version, epoch)
	if s.tenants == nil {
		return s.sealer, b, nil
	}
	sl, tenant, err := s.tenants.sealer(ctx, key, create)
	b.Tenant = tenant
	return sl, b, err
}

func (s *Shares) path(key string, version, epoch uint32) string {
	if epoch == 0 {
		return filepath.Join(s.dir, key, fmt.Sprintf("v%d.sealed", version))
	}
	return filepath.Join(s.dir, key, fmt.Sprintf("v%d.e%d.sealed", version, epoch))
}

// Has reports whether a sealed share exists for the key version and epoch.
func (s *Shares) Has(key string, version, epoch uint32) bool {
	_, err := os.Stat(s.path(key, version, epoch))
	return err == nil
}

// Put seals and writes the share. The plaintext never touches the disk.
func (s *Shares) Put(ctx context.Context, key string, version, epoch uint32, sh *tss.Share) error {
	plain, err := sh.MarshalBinary()
	if err != nil {
		return fmt.Errorf("node: encode share %s v%d: %w", key, version, err)
	}
	defer clear(plain)
	// The cache holds its own decoded copy, never the caller's share: an
	// ECDSA keygen's share points at the node's pre-params integers, and
	// wiping it on eviction would wipe them too.
	own, err := s.open(plain)
	if err != nil {
		return fmt.Errorf("node: share of %s v%d: %w", key, version, err)
	}
	defer func() {
		if own != nil { // not cached: wipe now rather than at collection
			own.sh.ReleaseSecrets()
		}
	}()
	sl, b, err := s.sealerFor(ctx, key, version, epoch, true)
	if err != nil {
		return err
	}
	blob, err := sl.Seal(ctx, b, plain)
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
	s.keep(p, own, true)
	own = nil
	return nil
}

// Get returns the opened share of the key version at epoch, unsealing it
// when it is not cached. The caller must not Wipe it.
func (s *Shares) Get(ctx context.Context, key string, version, epoch uint32) (*tss.Share, error) {
	p := s.path(key, version, epoch)
	s.mu.Lock()
	if e, ok := s.cache[p]; ok {
		e.used = time.Now()
		s.mu.Unlock()
		return e.sh, nil
	}
	s.mu.Unlock()
	blob, err := sealing.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("node: no share of %s v%d (epoch %d) on %s: %w", key, version, epoch, s.node, ErrNoShare)
	}
	if err != nil {
		return nil, err
	}
	sl, b, err := s.sealerFor(ctx, key, version, epoch, false)
	if err != nil {
		return nil, err
	}
	plain, err := sl.Open(ctx, b, blob)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	e, err := s.open(plain)
	if err != nil {
		return nil, fmt.Errorf("node: share of %s v%d: %w", key, version, err)
	}
	kept := s.keep(p, e, false)
	if kept != e { // another Get opened it first; this copy never escaped
		e.sh.ReleaseSecrets()
	}
	return kept.sh, nil
}

var shareFile = regexp.MustCompile(`^v(\d+)(?:\.e(\d+))?\.sealed$`)

// Epochs lists the share files held for a key: version -> epochs.
func (s *Shares) Epochs(key string) map[uint32][]uint32 {
	out := map[uint32][]uint32{}
	ents, err := os.ReadDir(filepath.Join(s.dir, key))
	if err != nil {
		return out
	}
	for _, e := range ents {
		m := shareFile.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		v, _ := strconv.ParseUint(m[1], 10, 32)
		ep := uint64(0)
		if m[2] != "" {
			ep, _ = strconv.ParseUint(m[2], 10, 32)
		}
		out[uint32(v)] = append(out[uint32(v)], uint32(ep))
	}
	return out
}

// open decodes a share and moves its secrets into protected memory.
func (s *Shares) open(plain []byte) (*openShare, error) {
	sh, err := tss.UnmarshalShare(plain)
	if err != nil {
		return nil, err
	}
	if err := sh.MoveSecrets(s.mem.Region().Words); err != nil {
		return nil, err
	}
	return &openShare{sh: sh}, nil
}

// keep caches e under path p and returns the cached entry. When another
// Get opened the same share meanwhile, that one wins, unless replace is
// set (Put: the file on disk is e's). A share that loses or is replaced
// is only dropped: a holder may still be signing with it.
func (s *Shares) keep(p string, e *openShare, replace bool) *openShare {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.cache[p]; ok {
		if !replace {
			old.used = time.Now()
			return old
		}
		old.timer.Stop()
	}
	e.used = time.Now()
	e.timer = time.AfterFunc(s.idle, func() { s.expire(p, e) })
	s.cache[p] = e
	return e
}

// expire drops e from the cache if it has been idle long enough, and
// otherwise checks again when it would be. Its secret words are zeroed by
// their cleanups once no session holds them; the collection asked for
// here makes that prompt when none does, instead of waiting for the
// runtime's next one (at most two minutes away).
func (s *Shares) expire(p string, e *openShare) {
	s.mu.Lock()
	if s.cache[p] != e || stillUsed(e.timer, s.idle, e.used) {
		s.mu.Unlock()
		return
	}
	delete(s.cache, p)
	s.mu.Unlock()
	runtime.GC()
}

// stillUsed re-arms t to fire when a secret last used at used will have
// been idle for idle, and reports whether it did: the secret stays open.
func stillUsed(t *time.Timer, idle time.Duration, used time.Time) bool {
	left := idle - time.Since(used)
	if left > 0 {
		t.Reset(left)
	}
	return left > 0
}

// Destroy crypto-shreds the share of the key version at epoch: it drops the
// cached plaintext, overwrites the sealed file, syncs, and unlinks it. The
// plaintext's words are zeroed by their cleanups as soon as no session
// holds the share (at once when none does): wiping them in place under a
// session would leave tss-lib's own round goroutines, which nothing can
// stop, computing with a zero Paillier key, and a zero lambda makes its
// decryption dereference nil and kill the process. Sessions of a destroyed
// version end within sign.timeout (parked presignatures are discarded with
// it). The
// TPM key that sealed it is shared with other shares, so the file itself
// must go; overwriting first keeps the ciphertext out of free blocks on
// file systems that write in place. A share already gone is not an error.
func (s *Shares) Destroy(key string, version, epoch uint32) error {
	p := s.path(key, version, epoch)
	s.mu.Lock()
	e, ok := s.cache[p]
	delete(s.cache, p)
	s.mu.Unlock()
	if ok {
		e.timer.Stop()
		runtime.GC() // prompt cleanups when no session holds it
	}
	if err := shredFile(p); err != nil {
		return fmt.Errorf("node: destroy share %s v%d: %w", key, version, err)
	}
	return nil
}

// shredFile overwrites the file at p with zeros, syncs it and unlinks it,
// then syncs its directory: the one way a sealed secret leaves the disk.
// A file already gone is not an error.
func shredFile(p string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
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
		return fmt.Errorf("overwrite: %w", err)
	}
	if err := os.Remove(p); err != nil {
		return err
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

// ErrNoShare is wrapped by Get for a share this member does not hold.
var ErrNoShare = errors.New("share not held")
