package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/auditwork"
	"github.com/keyquorum/keyquorum/node/config"
)

// recoveredFile is written into a node's data directory by ForceNewCluster
// and removed once the cluster has the recovery on its audit trail.
const recoveredFile = "recovered.json"

// ForceNewCluster rewrites node id's raft state, offline, so that members
// alone form the cluster (consensus.ForceNewCluster), for when a majority
// of members is gone for good. Every survivor must run it with the same
// members. It leaves a note that the node, once the recovered cluster
// runs, turns into an audited ClusterRecovered entry.
func ForceNewCluster(cluster *config.Cluster, id string, members []string, now time.Time) (consensus.Recovery, error) {
	if _, ok := cluster.Node(id); !ok {
		return consensus.Recovery{}, fmt.Errorf("node: %q is not in the cluster config (nodes: %v)", id, cluster.NodeIDs())
	}
	var peers []consensus.Peer
	seen := map[string]bool{}
	for _, m := range members {
		n, ok := cluster.Node(m)
		if !ok {
			return consensus.Recovery{}, fmt.Errorf("node: member %q is not in the cluster config (nodes: %v)", m, cluster.NodeIDs())
		}
		if seen[m] {
			return consensus.Recovery{}, fmt.Errorf("node: member %q named twice", m)
		}
		seen[m] = true
		peers = append(peers, consensus.Peer{ID: m, RaftAddr: n.Raft})
	}
	// The replay must build the same state, audit chain included, that
	// the member built when it applied these entries.
	if _, err := fsm.NewFSM(fsmConfig(cluster), fsmCrypto{}); err != nil {
		return consensus.Recovery{}, err
	}
	newFSM := func() raft.FSM {
		f, _ := fsm.NewFSM(fsmConfig(cluster), fsmCrypto{}) // valid: checked above
		_ = auditwork.Enable(f)
		return f
	}
	dir := cluster.NodeDir(id)
	rec, err := consensus.ForceNewCluster(filepath.Join(dir, "raft"), id, peers, newFSM)
	if err != nil {
		return rec, err
	}
	note := recoveredNote{Members: rec.Members, Previous: rec.Previous, LastIndex: rec.LastIndex, LastTerm: rec.LastTerm, At: now.UnixNano()}
	data, err := json.Marshal(note)
	if err != nil {
		return rec, err
	}
	if err := os.WriteFile(filepath.Join(dir, recoveredFile), data, 0o600); err != nil {
		return rec, fmt.Errorf("node: recover: the raft state is recovered, but the note for the audit trail was not written: %w", err)
	}
	return rec, nil
}

type recoveredNote struct {
	Members   []string `json:"members"`
	Previous  []string `json:"previous"`
	LastIndex uint64   `json:"last_index"`
	LastTerm  uint64   `json:"last_term"`
	At        int64    `json:"at"`
}

// reportRecovered puts a recovery on the audit trail once the cluster
// runs: the note ForceNewCluster left becomes a ClusterRecovered entry,
// then goes. A crash between the two repeats the record, never loses it.
func (n *Node) reportRecovered(ctx context.Context) error {
	p := filepath.Join(n.dir, recoveredFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var note recoveredNote
	if err := json.Unmarshal(data, &note); err != nil {
		n.log.Error("unreadable recovery note; the recovery is not on the audit trail", "path", p, "err", err)
		return nil
	}
	cmd := &fsm.ClusterRecovered{RequestID: fmt.Sprintf("recover-%s-%d", n.self.ID, note.LastIndex), Node: n.self.ID,
		Members: note.Members, Previous: note.Previous, LastIndex: note.LastIndex, LastTerm: note.LastTerm, RecoveredAt: note.At}
	enc, err := n.encode(cmd)
	if err != nil {
		return err
	}
	if err := n.reportOnce(ctx, enc); err != nil {
		return fmt.Errorf("node: report recovery: %w", err)
	}
	n.log.Warn("the forced recovery of the raft configuration is on the audit trail", "members", note.Members, "previous", note.Previous)
	return os.Remove(p)
}
