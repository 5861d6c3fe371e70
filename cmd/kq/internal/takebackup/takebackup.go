// Package takebackup takes a backup of a running cluster: the raft
// snapshot through the leader, every node's sealed files as each streams
// them, and the manifest the audit key signs. The backup package owns the
// format; this one only talks to the cluster to fill it.
package takebackup

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/backup"
	"github.com/keyquorum/keyquorum/cmd/internal/progress"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/remote"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
	"github.com/keyquorum/keyquorum/node/config"
)

// backupProgress shows the backup's phase on stderr's progress line and
// logs each finished step above it.
type backupProgress struct {
	stderr io.Writer
	p      *progress.Indicator
}

// phase names what runs now.
func (b backupProgress) phase(s string) { b.p.Note(s) }

// done logs a finished step.
func (b backupProgress) done(format string, a ...any) {
	b.p.Println(b.stderr, "backup: "+fmt.Sprintf(format, a...))
}

// Options are where Take reports its progress, and how long one node
// has to answer.
type Options struct {
	Stderr    io.Writer
	StderrTTY bool          // draw a progress line, not only log steps
	Heartbeat time.Duration // how often a long step says it still runs
	Timeout   time.Duration // per node, for its sealed files
}

// Take takes the snapshot through the leader, collects each node's sealed
// files, writes the manifest and has the audit key sign it.
func Take(ctx context.Context, c *remote.Client, w *backup.Writer, opts Options) (*backup.Manifest, error) {
	pr := backupProgress{stderr: opts.Stderr, p: progress.Start(opts.Stderr, opts.StderrTTY, "kq: backup", 0, opts.Heartbeat)}
	defer pr.p.Stop()
	m := &backup.Manifest{Format: backup.Format, ClusterID: c.Cluster().ID, Created: time.Now().UTC().Truncate(time.Second)}
	pr.phase("raft snapshot through the leader")
	err := c.Call(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
		stream, err := kqpb.NewBackupServiceClient(conn).Snapshot(ctx, &kqpb.BackupSnapshotRequest{})
		if err != nil {
			return err
		}
		// A follower refuses on the first receive: nothing is written
		// until the leader answers.
		first, err := stream.Recv()
		if err != nil {
			return err
		}
		meta := first.Meta
		if meta == nil || first.Path != backup.SnapshotFile {
			return errors.New("the snapshot stream carried no metadata")
		}
		f, err := w.WriteFile(backup.SnapshotFile, &chunkReader{recv: stream.Recv, path: first.Path, pending: first})
		if err != nil {
			return err
		}
		m.Snapshot = backup.Snapshot{File: f.Path, ID: meta.Id, Index: meta.Index, Term: meta.Term,
			ConfigurationIndex: meta.ConfigurationIndex, Version: int(meta.Version)}
		for _, s := range meta.Servers {
			m.Snapshot.Servers = append(m.Snapshot.Servers, backup.Server{ID: s.Id, Address: s.Address, Suffrage: s.Suffrage})
		}
		pr.done("snapshot at index %d, term %d: %d bytes", meta.Index, meta.Term, f.Size)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	facts, err := inspectWritten(w, backup.SnapshotFile)
	if err != nil {
		return nil, err
	}
	if facts.AuditPublicKey == nil {
		return nil, errors.New("the cluster has no active audit key yet to sign the backup; try again once it has")
	}
	m.Keys = facts.Keys
	m.Audit = backup.Audit{Seq: facts.AuditSeq, Head: facts.AuditHead, Key: facts.AuditKey, PublicKey: hex.EncodeToString(facts.AuditPublicKey)}

	for _, n := range c.Cluster().Nodes {
		info := backup.Node{ID: n.ID}
		pr.phase(n.ID + ": sealed files")
		// One node, one attempt: a retry would write its files twice.
		nc, err := c.NewClient([]config.NodeConfig{n}, opts.Timeout)
		if err != nil {
			return nil, err
		}
		err = nc.Call(ctx, "backup sealed", "", func(ctx context.Context, conn *grpc.ClientConn) error {
			stream, err := kqpb.NewBackupServiceClient(conn).Sealed(ctx, &kqpb.BackupSealedRequest{})
			if err != nil {
				return err
			}
			return collectSealed(stream.Recv, func(rel string, r io.Reader) error {
				if err := backup.CheckSealedPath(rel); err != nil {
					return err
				}
				f, err := w.WriteFile(backup.NodePath(n.ID, rel), r)
				info.Files++
				info.Bytes += f.Size
				return err
			})
		})
		nc.Close()
		err = c.Plain(err)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			// A node that does not answer is left out, and the manifest
			// says so: its shares are missing from this backup.
			info.Error = render.ErrorText(err)
			pr.done("%s: LEFT OUT: %s", n.ID, info.Error)
		} else {
			pr.done("%s: %d sealed files, %d bytes", n.ID, info.Files, info.Bytes)
		}
		m.Nodes = append(m.Nodes, info)
	}
	m.Files = w.Files()
	data, sum, err := backup.EncodeManifest(m)
	if err != nil {
		return nil, err
	}
	pr.phase("the audit key signs the manifest")
	var sig *kqpb.SignManifestResponse
	err = c.Call(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
		sig, err = kqpb.NewBackupServiceClient(conn).SignManifest(ctx, &kqpb.SignManifestRequest{ManifestSha256: sum[:]})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sign the manifest: %w", err)
	}
	s := backup.Signature{ManifestSHA256: hex.EncodeToString(sum[:]), Key: sig.Key, PublicKey: hex.EncodeToString(sig.PublicKey),
		Signature: hex.EncodeToString(sig.Signature), RequestID: sig.RequestId}
	if err := backup.VerifySignature(data, s); err != nil {
		return nil, err
	}
	if s.PublicKey != m.Audit.PublicKey {
		return nil, fmt.Errorf("the manifest was signed by audit key %s, the snapshot's is %s", s.PublicKey, m.Audit.PublicKey)
	}
	if err := w.Finish(data, s); err != nil {
		return nil, err
	}
	pr.done("manifest signed by audit key %s", m.Audit.Key)
	return m, nil
}

func inspectWritten(w *backup.Writer, rel string) (backup.Facts, error) {
	f, err := w.Open(rel)
	if err != nil {
		return backup.Facts{}, err
	}
	defer f.Close()
	return backup.Inspect(f)
}

// chunkReader reads one file's chunks off a stream, starting with the
// chunk already received.
type chunkReader struct {
	recv    func() (*kqpb.BackupChunk, error)
	path    string
	pending *kqpb.BackupChunk
	buf     []byte
	done    bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		c := r.pending
		r.pending = nil
		if c == nil {
			var err error
			if c, err = r.recv(); errors.Is(err, io.EOF) {
				return 0, io.ErrUnexpectedEOF
			} else if err != nil {
				return 0, err
			}
		}
		if c.Path != r.path {
			return 0, fmt.Errorf("stream sent %q inside %q", c.Path, r.path)
		}
		r.buf, r.done = c.Data, c.Last
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// collectSealed hands each file of a Sealed stream to store, in order.
func collectSealed(recv func() (*kqpb.BackupChunk, error), store func(rel string, r io.Reader) error) error {
	for {
		c, err := recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		r := &chunkReader{recv: recv, path: c.Path, pending: c}
		if err := store(c.Path, r); err != nil {
			return err
		}
		if !r.done || len(r.buf) > 0 {
			return fmt.Errorf("%s: not read to its end", c.Path)
		}
	}
}
