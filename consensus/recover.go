package consensus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Recovery says what ForceNewCluster found and wrote.
type Recovery struct {
	Previous  []string // the configuration the member's state held
	Members   []string // the configuration now
	LastIndex uint64
	LastTerm  uint64
}

// ForceNewCluster rewrites the raft state in dir, offline, so that
// members is the whole configuration: raft.RecoverCluster replays the
// member's snapshot and log into newFSM's FSM, snapshots it with the new
// configuration, and truncates the log. Every entry the log holds becomes
// committed, including any a lost majority never committed; run it on the
// survivor with the longest log first (Stats.LastIndex) and give every
// survivor the same members.
//
// It fails while another process holds dir, when dir holds no raft state,
// and when self is not among members.
func ForceNewCluster(dir, self string, members []Peer, newFSM func() raft.FSM) (Recovery, error) {
	var out Recovery
	if !slices.ContainsFunc(members, func(p Peer) bool { return p.ID == self }) {
		return out, fmt.Errorf("consensus: recover: %s is not among the new members", self)
	}
	if _, err := os.Stat(filepath.Join(dir, "raft.db")); err != nil {
		return out, fmt.Errorf("consensus: recover: no raft state in %s: %w", dir, err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), BoltOptions: &bbolt.Options{Timeout: time.Second}})
	if err != nil {
		return out, fmt.Errorf("consensus: recover: open log store (is kqd still running?): %w", err)
	}
	defer store.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, DefaultConfig().SnapshotRetain, hclog.NewNullLogger())
	if err != nil {
		return out, fmt.Errorf("consensus: recover: %w", err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(self)
	rc.Logger = hclog.NewNullLogger()
	_, trans := raft.NewInmemTransport(raft.ServerAddress(self))
	prev, err := raft.GetConfiguration(rc, newFSM(), store, store, snaps, trans)
	if err != nil {
		return out, fmt.Errorf("consensus: recover: read configuration: %w", err)
	}
	for _, s := range prev.Servers {
		out.Previous = append(out.Previous, string(s.ID))
	}
	var conf raft.Configuration
	for _, p := range members {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.RaftAddr)})
		out.Members = append(out.Members, p.ID)
	}
	rc = raft.DefaultConfig()
	rc.LocalID = raft.ServerID(self)
	rc.Logger = hclog.NewNullLogger()
	if err := raft.RecoverCluster(rc, newFSM(), store, store, snaps, trans, conf); err != nil {
		return out, fmt.Errorf("consensus: recover: %w", err)
	}
	list, err := snaps.List()
	if err != nil || len(list) == 0 {
		return out, errors.Join(errors.New("consensus: recover: no snapshot after recovery"), err)
	}
	out.LastIndex, out.LastTerm = list[0].Index, list[0].Term
	return out, nil
}

// hasRaftState reports whether dir holds a raft log, term or snapshot.
func hasRaftState(dir string) (bool, error) {
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 1, hclog.NewNullLogger())
	if err != nil {
		return false, fmt.Errorf("consensus: %w", err)
	}
	if list, err := snaps.List(); err != nil || len(list) > 0 {
		return len(list) > 0, err
	}
	if _, err := os.Stat(filepath.Join(dir, "raft.db")); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), BoltOptions: &bbolt.Options{Timeout: time.Second}})
	if err != nil {
		return false, fmt.Errorf("consensus: open log store (is kqd still running?): %w", err)
	}
	defer store.Close()
	return raft.HasExistingState(store, store, snaps)
}
