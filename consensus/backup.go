package consensus

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// BackupSnapshot returns a raft snapshot that holds every entry committed
// before the call: on the leader, a linearizable read first applies
// everything committed, then raft snapshots the FSM (compacting the log as
// any snapshot does). When nothing was applied since the last snapshot,
// that one is current and is returned. The caller closes the reader.
//
// The snapshot is raft's own, with its index, term and configuration, so
// it can be installed as a member's raft state (InstallSnapshot) and the
// member catches up from the leader's log after it.
func (n *Node) BackupSnapshot(ctx context.Context) (*raft.SnapshotMeta, io.ReadCloser, error) {
	if err := n.LinearizableRead(ctx); err != nil {
		return nil, nil, fmt.Errorf("consensus: backup snapshot: %w", err)
	}
	f := n.raft.Snapshot()
	finished, err := wait(ctx, f)
	switch {
	case !finished:
		return nil, nil, fmt.Errorf("consensus: backup snapshot: %w", err)
	case err == nil:
		return f.Open()
	case errors.Is(err, raft.ErrRaftShutdown):
		return nil, nil, fmt.Errorf("consensus: backup snapshot: %w", ErrShutdown)
	case !errors.Is(err, raft.ErrNothingNewToSnapshot):
		return nil, nil, fmt.Errorf("consensus: backup snapshot: %w", err)
	}
	// A newer snapshot may replace (and reap) the one listed before it
	// opens; the next listing names that newer one.
	for range 3 {
		list, err := n.store.Snapshots.List()
		if err != nil || len(list) == 0 {
			return nil, nil, fmt.Errorf("consensus: backup snapshot: no snapshot to open: %v", err)
		}
		meta, rc, err := n.store.Snapshots.Open(list[0].ID)
		if err == nil {
			return meta, rc, nil
		}
	}
	return nil, nil, errors.New("consensus: backup snapshot: snapshots replaced while opening")
}

// InstallSnapshot writes a snapshot as the raft state of a member whose
// raft directory dir holds none: raft restores it into the FSM at start
// and takes the log after meta.Index from the leader. It refuses a dir
// that already holds raft state, so a live member's log is never
// overwritten by an older snapshot.
func InstallSnapshot(dir string, meta *raft.SnapshotMeta, data io.Reader) error {
	if has, err := hasRaftState(dir); err != nil {
		return err
	} else if has {
		return fmt.Errorf("consensus: install snapshot: %s already holds raft state; restore is for a member that lost it", dir)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, nil)
	if err != nil {
		return fmt.Errorf("consensus: install snapshot: %w", err)
	}
	_, trans := raft.NewInmemTransport("")
	sink, err := snaps.Create(meta.Version, meta.Index, meta.Term, meta.Configuration, meta.ConfigurationIndex, trans)
	if err != nil {
		return fmt.Errorf("consensus: install snapshot: %w", err)
	}
	if _, err := io.Copy(sink, data); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("consensus: install snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("consensus: install snapshot: %w", err)
	}
	return nil
}
