package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/keyquorum/keyquorum/consensus/policy"
	"github.com/keyquorum/keyquorum/sealing"
)

// TenantKeys keeps this node's data-encryption key (DEK) of each tenant:
// 32 random bytes, made by this node the first time it seals a blob of the
// tenant, sealed on disk under the node's TPM KEK
// (DIR/tenants/<tenant>/g<generation>.key.sealed) and opened once into an
// AES-GCM envelope. A tenant's share blobs are sealed under its DEK with
// the tenant in the associated data; the default tenant's stay under the
// KEK directly, as they were before tenants existed (it is never
// deleted). Shredding a DEK (its tenant was deleted) leaves every blob of
// that tenant unopenable on this node, from this disk or any copy of it.
type TenantKeys struct {
	dir, cluster, node string
	kek                Sealer
	// gen is the tenant's current generation in the replicated state.
	gen func(tenant string) uint32

	mu   sync.Mutex
	open map[TenantGen]*sealing.Envelope
}

// TenantGen names one generation of a tenant: a tenant deleted and made
// again is a new generation, with a new key.
type TenantGen struct {
	Tenant string
	Gen    uint32
}

// ErrTenantKeyGone is returned for a blob of a tenant whose key this node
// does not hold: the tenant was deleted and its key shredded (or the blob
// belongs to a generation that never existed here).
var ErrTenantKeyGone = errors.New("tenant data-encryption key not held (the tenant was deleted)")

// NewTenantKeys returns the tenant keys of member node of cluster under
// the data directory dir, sealed under kek; gen gives a tenant's current
// generation in the replicated state.
func NewTenantKeys(dir, cluster, node string, kek Sealer, gen func(string) uint32) *TenantKeys {
	return &TenantKeys{dir: filepath.Join(dir, "tenants"), cluster: cluster, node: node, kek: kek, gen: gen,
		open: map[TenantGen]*sealing.Envelope{}}
}

func (t *TenantKeys) path(g TenantGen) string {
	return filepath.Join(t.dir, g.Tenant, fmt.Sprintf("g%d.key.sealed", g.Gen))
}

func (t *TenantKeys) binding(g TenantGen) sealing.Binding {
	return sealing.Binding{ClusterID: t.cluster, NodeID: t.node, Kind: sealing.KindTenantKey, KeyID: g.Tenant, Version: g.Gen}
}

// sealer returns the sealer of key's tenant and the tenant to bind blobs
// to ("" for the default tenant: the KEK itself). With create set, a
// missing DEK is made (sealing a new blob); without, it is an error
// wrapping ErrTenantKeyGone (opening one).
func (t *TenantKeys) sealer(ctx context.Context, key string, create bool) (Sealer, string, error) {
	tenant := policy.TenantOf(key)
	if tenant == policy.DefaultTenant {
		return t.kek, "", nil
	}
	g := TenantGen{tenant, t.gen(tenant)}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.open[g]; ok {
		return e, tenant, nil
	}
	dek, err := t.load(ctx, g, create)
	if err != nil {
		return nil, "", err
	}
	defer clear(dek)
	e, err := sealing.NewEnvelope(dek)
	if err != nil {
		return nil, "", err
	}
	t.open[g] = e
	return e, tenant, nil
}

// load reads and unseals the DEK of g, or makes it when create is set and
// there is none. The caller holds t.mu and wipes the result.
func (t *TenantKeys) load(ctx context.Context, g TenantGen, create bool) ([]byte, error) {
	p := t.path(g)
	blob, err := sealing.ReadFile(p)
	switch {
	case err == nil:
		return t.kek.Open(ctx, t.binding(g), blob)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	case !create:
		return nil, fmt.Errorf("node: tenant %s generation %d on %s: %w", g.Tenant, g.Gen, t.node, ErrTenantKeyGone)
	}
	dek := make([]byte, sealing.KEKSize)
	if _, err := rand.Read(dek); err != nil {
		return nil, fmt.Errorf("node: tenant key: %w", err)
	}
	blob, err = t.kek.Seal(ctx, t.binding(g), dek)
	if err == nil {
		err = sealing.WriteFile(p, blob)
	}
	if err != nil {
		clear(dek)
		return nil, fmt.Errorf("node: store tenant %s key: %w", g.Tenant, err)
	}
	return dek, nil
}

// Held lists the tenant keys on disk.
func (t *TenantKeys) Held() ([]TenantGen, error) {
	tenants, err := os.ReadDir(t.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []TenantGen
	for _, d := range tenants {
		files, err := os.ReadDir(filepath.Join(t.dir, d.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if g, ok := parseTenantKeyPath("tenants/" + d.Name() + "/" + f.Name()); ok {
				out = append(out, g)
			}
		}
	}
	return out, nil
}

// Shred crypto-shreds the DEK of g: the opened envelope is wiped, the
// sealed file overwritten, synced and unlinked. The KEK that sealed it
// seals other secrets, so the file itself must go.
func (t *TenantKeys) Shred(g TenantGen) error {
	t.mu.Lock()
	if e, ok := t.open[g]; ok {
		e.Wipe()
		delete(t.open, g)
	}
	t.mu.Unlock()
	if err := shredFile(t.path(g)); err != nil {
		return fmt.Errorf("node: shred tenant %s key: %w", g.Tenant, err)
	}
	return nil
}
