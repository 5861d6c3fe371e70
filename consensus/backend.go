package consensus

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// Backend is what a member keeps its raft state in and talks to the other
// members through. Open builds the production one from Config (BoltDB with
// fsync, file snapshots, mutual TLS over TCP) unless Config.Backend supplies
// another, such as raft's in-memory stores and transport for an in-process
// test cluster (consensustest.MemNetwork).
//
// The stores must keep raft's promises for as long as the member should
// remember its votes and log: a member restarted on the same Backend
// stores resumes where it stopped, one given fresh stores starts empty.
type Backend struct {
	Logs      raft.LogStore
	Stable    raft.StableStore
	Snapshots raft.SnapshotStore
	// Transport carries raft RPCs; raft closes it on Shutdown when it
	// implements raft.WithClose. Its LocalAddr should equal Config.RaftAddr.
	Transport raft.Transport
}

// storage is an opened Backend plus what closes its stores (the transport
// raft closes itself).
type storage struct {
	Backend
	close func() error
}

// openStorage opens cfg.Backend, or the on-disk stores under cfg.Dir and
// the TLS transport on cfg.RaftAddr.
func openStorage(cfg Config, hlog hclog.Logger) (*storage, error) {
	if cfg.Backend != nil {
		b := *cfg.Backend
		if b.Logs == nil || b.Stable == nil || b.Snapshots == nil || b.Transport == nil {
			return nil, errors.New("consensus: open: Backend lacks a store or its transport")
		}
		closeLogs := func() error { return nil }
		if c, ok := b.Logs.(io.Closer); ok {
			closeLogs = c.Close
		}
		return &storage{Backend: b, close: closeLogs}, nil
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("consensus: open: %w", err)
	}
	store, err := raftboltdb.New(raftboltdb.Options{
		Path: filepath.Join(cfg.Dir, "raft.db"),
		// A second process on the same Dir fails instead of waiting forever
		// for bolt's file lock.
		BoltOptions: &bbolt.Options{Timeout: time.Second},
		NoSync:      false,
	})
	if err != nil {
		return nil, fmt.Errorf("consensus: open log store: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, cfg.SnapshotRetain, hlog.Named("snapshot"))
	if err != nil {
		_ = store.Close()
		return nil, fmt.Errorf("consensus: open snapshot store: %w", err)
	}
	stream, err := newStreamLayer(cfg.RaftAddr, cfg.TLS, cfg.DialTimeout, cfg.Route)
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: 3,
		Timeout: cfg.RPCTimeout,
		Logger:  hlog.Named("net"),
	})
	return &storage{Backend: Backend{Logs: store, Stable: store, Snapshots: snaps, Transport: trans}, close: store.Close}, nil
}
