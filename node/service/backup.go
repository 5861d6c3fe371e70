package service

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/backup"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// backupChunk bounds one streamed message, well under the client's 4 MiB
// receive limit.
const backupChunk = 1 << 20

// backupService implements BackupService for `kq backup create`. Every
// call needs a cluster-admin under the policy in force (any client under
// the bootstrap policy), as policy changes do: a backup reveals the whole
// replicated state.
type backupService struct {
	kqpb.UnimplementedBackupServiceServer
	n *core
	// snapshotting bounds the leader to one backup snapshot at a time:
	// each one serialises the whole state and compacts the log.
	snapshotting atomic.Bool
}

// admin returns the caller when it may take a backup. On the leader the
// policy is read linearizably; a follower serving its own sealed files
// decides on its applied state.
func (s *backupService) admin(ctx context.Context, leader bool) (string, error) {
	n := s.n
	if leader && !n.rt.IsLeader() {
		return "", status.Error(codes.Unavailable, "not the leader; backups are taken through the leader")
	}
	actor, err := n.actor(ctx)
	if err != nil {
		return "", err
	}
	if leader {
		if err := n.rt.LinearizableRead(ctx); err != nil {
			return "", ToStatus(err)
		}
	}
	if err := n.fsm.AuthorizeErr(actor, policy.ActSetPolicy, ""); err != nil {
		return "", ToStatus(err)
	}
	return actor, nil
}

// Snapshot streams a raft snapshot holding everything committed.
func (s *backupService) Snapshot(_ *kqpb.BackupSnapshotRequest, stream kqpb.BackupService_SnapshotServer) error {
	ctx := stream.Context()
	actor, err := s.admin(ctx, true)
	if err != nil {
		return err
	}
	if !s.snapshotting.CompareAndSwap(false, true) {
		return status.Error(codes.ResourceExhausted, "a backup snapshot is being taken; retry when it is done")
	}
	defer s.snapshotting.Store(false)
	meta, rc, err := s.n.rt.BackupSnapshot(ctx)
	if err != nil {
		return ToStatus(err)
	}
	defer rc.Close()
	s.n.log.Info("backup snapshot", "actor", actor, "index", meta.Index, "term", meta.Term, "bytes", meta.Size)
	first := &kqpb.BackupChunk{Meta: snapshotMeta(meta), Path: backup.SnapshotFile}
	return sendFile(stream, first, rc)
}

func snapshotMeta(m *raft.SnapshotMeta) *kqpb.BackupSnapshotMeta {
	out := &kqpb.BackupSnapshotMeta{Id: m.ID, Index: m.Index, Term: m.Term, ConfigurationIndex: m.ConfigurationIndex,
		Size: m.Size, Version: uint32(m.Version)}
	for _, sv := range m.Configuration.Servers {
		suf := "voter"
		switch sv.Suffrage {
		case raft.Nonvoter:
			suf = "nonvoter"
		case raft.Staging:
			suf = "staging"
		}
		out.Servers = append(out.Servers, &kqpb.BackupServer{Id: string(sv.ID), Address: string(sv.Address), Suffrage: suf})
	}
	return out
}

// sendFile streams r as chunks of one file; first carries the file's
// path (and any metadata) and goes out with the first bytes.
func sendFile(stream interface{ Send(*kqpb.BackupChunk) error }, first *kqpb.BackupChunk, r io.Reader) error {
	buf := make([]byte, backupChunk)
	c := first
	for {
		k, err := io.ReadFull(r, buf)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return status.Errorf(codes.Internal, "read %s: %v", first.Path, err)
		}
		c.Data, c.Last = buf[:k], k < len(buf)
		if serr := stream.Send(c); serr != nil {
			return serr
		}
		if c.Last {
			return nil
		}
		c = &kqpb.BackupChunk{Path: first.Path}
	}
}

// Sealed streams this node's sealed files: its shares, pre-params and
// sealed KEK, each as it is on disk. None opens without this node's TPM.
func (s *backupService) Sealed(_ *kqpb.BackupSealedRequest, stream kqpb.BackupService_SealedServer) error {
	if _, err := s.admin(stream.Context(), false); err != nil {
		return err
	}
	files, err := s.n.rt.SealedFiles()
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	for _, rel := range files {
		f, err := s.n.rt.OpenSealed(rel)
		if errors.Is(err, fs.ErrNotExist) {
			continue // destroyed since the listing
		}
		if err != nil {
			return status.Errorf(codes.Internal, "open %s: %v", rel, err)
		}
		err = sendFile(stream, &kqpb.BackupChunk{Path: rel}, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// SignManifest has the audit key sign a backup manifest's hash. The
// request is an ordinary audit-key signature: its audit record carries the
// SHA-256 of the signed message.
func (s *backupService) SignManifest(ctx context.Context, req *kqpb.SignManifestRequest) (*kqpb.SignManifestResponse, error) {
	if len(req.ManifestSha256) != 32 {
		return nil, status.Errorf(codes.InvalidArgument, "manifest_sha256: %d bytes, want 32", len(req.ManifestSha256))
	}
	actor, err := s.admin(ctx, true)
	if err != nil {
		return nil, err
	}
	k, _, ok := s.n.fsm.AuditKey()
	if !ok || k.State() != fsm.KeyActive {
		return nil, status.Error(codes.FailedPrecondition, "the cluster's audit key is not active yet")
	}
	var sum [32]byte
	copy(sum[:], req.ManifestSha256)
	id := fsm.AuditRequestPrefix + "backup-" + hex.EncodeToString(sum[:])
	s.n.log.Info("signing a backup manifest with the audit key", "actor", actor, "request_id", id)
	sig, err := s.n.rt.AuditSign(ctx, k, id, backup.ManifestMessage(sum))
	if errors.Is(err, ErrSignEnded) {
		return nil, status.Error(codes.Aborted, "the audit key's signature failed; create the backup again")
	}
	if err != nil {
		return nil, ToStatus(err)
	}
	return &kqpb.SignManifestResponse{Key: k.Name, PublicKey: k.PublicKey(), Signature: sig, RequestId: id}, nil
}
