// Package recovery is a member's forced recovery of its raft
// configuration, and only that: the offline rewrite of its raft state so
// that the surviving members alone form the cluster (Force), and, once
// the recovered cluster runs, the report that puts the recovery on the
// audit trail (Report). Between the two, a note in the member's data
// directory carries the recovery across the restart.
package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"

	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/config"
)

// noteFile is written into a node's data directory by Force and removed
// once the cluster has the recovery on its audit trail.
const noteFile = "recovered.json"

type note struct {
	Members   []string `json:"members"`
	Previous  []string `json:"previous"`
	LastIndex uint64   `json:"last_index"`
	LastTerm  uint64   `json:"last_term"`
	At        int64    `json:"at"`
}

// Force rewrites node id's raft state, offline, so that members alone
// form the cluster (consensus.ForceNewCluster), and leaves the note
// Report turns into an audited ClusterRecovered entry. newFSM builds the
// state machine the log is replayed into: the same state, audit chain
// included, that the member built when it applied these entries.
func Force(cluster *config.Cluster, id string, members []string, now time.Time, newFSM func() (raft.FSM, error)) (consensus.Recovery, error) {
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
	if _, err := newFSM(); err != nil {
		return consensus.Recovery{}, err
	}
	replay := func() raft.FSM {
		f, _ := newFSM() // valid: checked above
		return f
	}
	dir := cluster.NodeDir(id)
	rec, err := consensus.ForceNewCluster(filepath.Join(dir, "raft"), id, peers, replay)
	if err != nil {
		return rec, err
	}
	data, err := json.Marshal(note{Members: rec.Members, Previous: rec.Previous, LastIndex: rec.LastIndex, LastTerm: rec.LastTerm, At: now.UnixNano()})
	if err != nil {
		return rec, err
	}
	if err := os.WriteFile(filepath.Join(dir, noteFile), data, 0o600); err != nil {
		return rec, fmt.Errorf("node: recover: the raft state is recovered, but the note for the audit trail was not written: %w", err)
	}
	return rec, nil
}

// Reporter appends a member report.
type Reporter interface {
	// Encode serialises cmd under the cluster's active protocol version.
	Encode(cmd fsm.Command) ([]byte, error)
	// ReportOnce appends an encoded member report, once.
	ReportOnce(ctx context.Context, data []byte) error
}

// Report puts a recovery on the audit trail once the cluster runs: the
// note Force left in dir, member id's data directory, becomes a
// ClusterRecovered entry, then goes. A crash between the two repeats the
// record, never loses it.
func Report(ctx context.Context, dir, id string, r Reporter, log *slog.Logger) error {
	p := filepath.Join(dir, noteFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var note note
	if err := json.Unmarshal(data, &note); err != nil {
		log.Error("unreadable recovery note; the recovery is not on the audit trail", "path", p, "err", err)
		return nil
	}
	cmd := &fsm.ClusterRecovered{RequestID: fmt.Sprintf("recover-%s-%d", id, note.LastIndex), Node: id,
		Members: note.Members, Previous: note.Previous, LastIndex: note.LastIndex, LastTerm: note.LastTerm, RecoveredAt: note.At}
	enc, err := r.Encode(cmd)
	if err != nil {
		return err
	}
	if err := r.ReportOnce(ctx, enc); err != nil {
		return fmt.Errorf("node: report recovery: %w", err)
	}
	log.Warn("the forced recovery of the raft configuration is on the audit trail", "members", note.Members, "previous", note.Previous)
	return os.Remove(p)
}
