package store

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/keyquorum/keyquorum/backup"
	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/consensus/policy"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/sealing"
)

// Restored says what Restore put back.
type Restored struct {
	Node          string
	SnapshotIndex uint64
	SnapshotTerm  uint64
	Shares        int  // sealed shares written, each opened with this node's TPM first
	PreParams     bool // the sealed pre-params were restored
	KEK           bool // the sealed KEK was restored (the node's tpm/ had none)
}

// Restore rebuilds the data directory of node id from the backup in
// from, for a node whose disk was lost while its TPM survived: it
// verifies the backup (pin, when set, is the expected audit key), checks
// that every sealed share of the node in it opens with this node's TPM,
// writes the shares and pre-params back, and installs the backup's raft
// snapshot as the node's raft state. Started, the node catches up from
// the leader from the snapshot's index on.
//
// Nothing is written unless every check passes. It refuses a node whose
// raft directory holds state (a live member's log is never replaced), and
// sealed files that differ from those already on disk.
func Restore(ctx context.Context, cluster *config.Cluster, id, from string, pin ed25519.PublicKey, log *slog.Logger) (*Restored, error) {
	self, ok := cluster.Node(id)
	if !ok {
		return nil, fmt.Errorf("node: %q is not in the cluster config (nodes: %v)", id, cluster.NodeIDs())
	}
	rep, err := backup.Verify(from, pin)
	if err != nil {
		return nil, err
	}
	m := rep.Manifest
	if m.ClusterID != cluster.ID {
		return nil, fmt.Errorf("node: restore: the backup is of cluster %q, this is %q", m.ClusterID, cluster.ID)
	}
	meta, err := m.Snapshot.RaftMeta()
	if err != nil {
		return nil, err
	}
	member := false
	for _, s := range meta.Configuration.Servers {
		member = member || string(s.ID) == id
	}
	if !member {
		return nil, fmt.Errorf("node: restore: %s is not in the backup's raft configuration", id)
	}
	held := false
	for _, n := range m.Nodes {
		if n.ID == id && n.Error != "" {
			return nil, fmt.Errorf("node: restore: the backup holds no sealed files of %s (it was left out: %s)", id, n.Error)
		}
		held = held || n.ID == id
	}
	if !held {
		return nil, fmt.Errorf("node: restore: the backup holds no sealed files of %s", id)
	}

	dir := cluster.NodeDir(id)
	out := &Restored{Node: id, SnapshotIndex: meta.Index, SnapshotTerm: meta.Term}
	files := map[string][]byte{} // rel path in the node dir -> content
	prefix := backup.NodePath(id, "") + "/"
	for _, f := range m.Files {
		rel, ok := strings.CutPrefix(f.Path, prefix)
		if !ok {
			continue
		}
		if err := backup.CheckSealedPath(rel); err != nil {
			return nil, err
		}
		data, err := os.ReadFile(filepath.Join(from, filepath.FromSlash(f.Path)))
		if err != nil {
			return nil, fmt.Errorf("node: restore: %w", err)
		}
		files[rel] = data
	}
	for rel, data := range files {
		cur, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("node: restore: %w", err)
		case rel == "tpm/kek.sealed" && !bytes.Equal(cur, data):
			// The TPM's own directory wins: the shares are checked
			// against it below, and fail if it is not the one that
			// sealed them.
			log.Warn("the node's sealed KEK differs from the backup's; keeping the node's", "path", rel)
			delete(files, rel)
		case !bytes.Equal(cur, data):
			return nil, fmt.Errorf("node: restore: %s already exists in %s and differs from the backup's", rel, dir)
		}
	}

	// The KEK goes back first: opening the TPM without it would make a
	// new one, under which none of the restored shares opens.
	if kek, ok := files["tpm/kek.sealed"]; ok {
		if _, err := os.Stat(filepath.Join(dir, "tpm", "kek.sealed")); errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Stat(filepath.Join(dir, "tpm", "kek.auth")); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("node: restore: %s has neither kek.sealed nor kek.auth: the TPM's auth value is gone with the disk, so no sealed share of %s can open (treat it as a lost TPM)", filepath.Join(dir, "tpm"), id)
			}
			if err := sealing.WriteFile(filepath.Join(dir, "tpm", "kek.sealed"), kek); err != nil {
				return nil, err
			}
			out.KEK = true
		}
		delete(files, "tpm/kek.sealed")
	}
	// Opening the TPM without a sealed KEK would make a new one, under
	// which nothing restored opens.
	if _, err := os.Stat(filepath.Join(dir, "tpm", "kek.sealed")); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("node: restore: %s holds no sealed KEK and the backup none of %s: the TPM state is gone (treat it as a lost TPM)", filepath.Join(dir, "tpm"), id)
	}
	if err := checkSealed(ctx, cluster, self, dir, files, log); err != nil {
		return nil, err
	}
	for rel, data := range files {
		if err := sealing.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), data); err != nil {
			return nil, err
		}
		if _, tenantKey := parseTenantKeyPath(rel); rel == "preparams.sealed" {
			out.PreParams = true
		} else if !tenantKey {
			out.Shares++
		}
	}
	snap, err := os.Open(filepath.Join(from, filepath.FromSlash(m.Snapshot.File)))
	if err != nil {
		return nil, fmt.Errorf("node: restore: %w", err)
	}
	defer snap.Close()
	if err := consensus.InstallSnapshot(filepath.Join(dir, "raft"), meta, snap); err != nil {
		return nil, err
	}
	return out, nil
}

// checkSealed opens every sealed file with this node's TPM and bindings,
// so a restore onto the wrong node, or a node whose TPM is not the one
// that sealed them, fails before anything is written.
func checkSealed(ctx context.Context, cluster *config.Cluster, self config.NodeConfig, dir string, files map[string][]byte, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("node: restore: %w", err)
	}
	tpm, err := sealing.OpenTPM(ctx, SealingConfig(cluster, self, dir), log)
	if err != nil {
		return fmt.Errorf("node: restore: open this node's TPM: %w", err)
	}
	defer tpm.Close()
	// A tenant's shares open under its data-encryption key, which the
	// TPM opens: the keys first.
	tenantKeys := map[string][]*sealing.Envelope{}
	defer func() {
		for _, es := range tenantKeys {
			for _, e := range es {
				e.Wipe()
			}
		}
	}()
	tk := NewTenantKeys(dir, cluster.ID, self.ID, tpm, nil)
	for rel, blob := range files {
		g, ok := parseTenantKeyPath(rel)
		if !ok {
			continue
		}
		dek, err := tpm.Open(ctx, tk.binding(g), blob)
		if err != nil {
			return fmt.Errorf("node: restore: %s does not open with %s's TPM (is this the TPM that sealed it?): %w", rel, self.ID, err)
		}
		e, err := sealing.NewEnvelope(dek)
		clear(dek)
		if err != nil {
			return err
		}
		tenantKeys[g.Tenant] = append(tenantKeys[g.Tenant], e)
	}
	for rel, blob := range files {
		if _, ok := parseTenantKeyPath(rel); ok {
			continue
		}
		b := sealing.Binding{ClusterID: cluster.ID, NodeID: self.ID, Kind: sealing.KindPreParams}
		var sealers []Sealer = []Sealer{tpm}
		if rel != "preparams.sealed" {
			key, version, epoch, err := parseSharePath(rel)
			if err != nil {
				return err
			}
			b = sealing.Binding{ClusterID: cluster.ID, NodeID: self.ID, Kind: sealing.KindShare, KeyID: key, Version: version, Epoch: epoch}
			if t := policy.TenantOf(key); t != policy.DefaultTenant {
				b.Tenant, sealers = t, nil
				for _, e := range tenantKeys[t] { // any generation the backup holds
					sealers = append(sealers, e)
				}
			}
		}
		err := fmt.Errorf("no key of tenant %s in the backup", b.Tenant)
		for _, sl := range sealers {
			var plain []byte
			plain, err = sl.Open(ctx, b, blob)
			clear(plain)
			if err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("node: restore: %s does not open with %s's TPM (is this the TPM that sealed it?): %w", rel, self.ID, err)
		}
	}
	return nil
}

// parseTenantKeyPath is the inverse of TenantKeys.path, relative to the
// data directory: tenants/TENANT/gN.key.sealed.
func parseTenantKeyPath(rel string) (TenantGen, bool) {
	rest, ok := strings.CutPrefix(rel, "tenants/")
	if !ok {
		return TenantGen{}, false
	}
	tenant, base, ok := strings.Cut(rest, "/")
	num, ok2 := strings.CutPrefix(base, "g")
	num, ok3 := strings.CutSuffix(num, ".key.sealed")
	gen, err := strconv.ParseUint(num, 10, 32)
	if !ok || !ok2 || !ok3 || err != nil || !policy.ValidTenant(tenant) {
		return TenantGen{}, false
	}
	return TenantGen{tenant, uint32(gen)}, true
}

// parseSharePath is the inverse of Shares.path, relative to the data
// directory: shares/KEY/vN.sealed, or shares/KEY/vN.eM.sealed for a
// refreshed share.
func parseSharePath(rel string) (key string, version, epoch uint32, err error) {
	bad := func() (string, uint32, uint32, error) {
		return "", 0, 0, fmt.Errorf("node: %q is not a share's path", rel)
	}
	rest, ok := strings.CutPrefix(rel, "shares/")
	if !ok {
		return bad()
	}
	key, base := path.Split(rest)
	key = strings.TrimSuffix(key, "/")
	name, ok := strings.CutSuffix(base, ".sealed")
	if !ok || key == "" || !strings.HasPrefix(name, "v") {
		return bad()
	}
	vs, es, refreshed := strings.Cut(name[1:], ".e")
	v, err := strconv.ParseUint(vs, 10, 32)
	if err != nil || v == 0 {
		return bad()
	}
	var e uint64
	if refreshed {
		if e, err = strconv.ParseUint(es, 10, 32); err != nil || e == 0 {
			return bad()
		}
	}
	return key, uint32(v), uint32(e), nil
}

// SealingConfig is the TPM configuration of member self of cluster c,
// whose data directory is dir: its sealed KEK lives in dir/tpm.
func SealingConfig(c *config.Cluster, self config.NodeConfig, dir string) sealing.Config {
	sc := sealing.DefaultConfig(dir + "/tpm")
	sc.Backend = string(c.TPM.Backend)
	sc.Address = self.TPMAddress
	if c.TPM.Device != "" {
		sc.Device = c.TPM.Device
	}
	if len(c.TPM.PCRs) > 0 {
		sc.PCRs = c.TPM.PCRs
	}
	return sc
}
