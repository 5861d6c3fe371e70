// Package backups is keyquorum's BackupService, and only that: the raft
// snapshot, this member's sealed files and the audit key's signature over
// a manifest, each for a cluster-admin. What it needs of the member and of
// the replicated state it asks through the narrow Member and State
// interfaces below; the status mapping and the caller's identity are
// package service's.
package backups

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"sync/atomic"

	"log/slog"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/backup"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/policy"
	"github.com/keyquorum/keyquorum/node/service"
)

// backupChunk bounds one streamed message, well under the client's 4 MiB
// receive limit.
const backupChunk = 1 << 20

// Member is what the backup service asks of the running member; a
// service.Runtime is one.
type Member interface {
	IsLeader() bool
	LinearizableRead(ctx context.Context) error
	// BackupSnapshot takes a raft snapshot of everything committed.
	BackupSnapshot(ctx context.Context) (*raft.SnapshotMeta, io.ReadCloser, error)
	// SealedFiles lists this member's sealed files as slash paths, in the
	// order a restore wants them; OpenSealed opens one (fs.ErrNotExist
	// when it was destroyed since the listing).
	SealedFiles() ([]string, error)
	OpenSealed(rel string) (io.ReadCloser, error)
	// AuditSign has the audit key k sign msg under requestID. Its error
	// wraps service.ErrSignEnded when the signature failed or was evicted.
	AuditSign(ctx context.Context, k *fsm.Key, requestID string, msg []byte) ([]byte, error)
}

// State is what the backup service reads of the replicated state; a
// service.State is one.
type State interface {
	AuthorizeErr(actor string, a policy.Action, key string) error
	AuditKey() (k *fsm.Key, attempts int, ok bool)
}

// Config is what New needs.
type Config struct {
	Member Member
	State  State
	// Actor names who asked for the call in ctx (service.Actor).
	Actor func(ctx context.Context) (string, error)
	Log   *slog.Logger
}

// Service implements BackupService for `kq backup create`. Every call
// needs a cluster-admin under the policy in force (any client under the
// bootstrap policy), as policy changes do: a backup reveals the whole
// replicated state.
type Service struct {
	kqpb.UnimplementedBackupServiceServer
	rt    Member
	fsm   State
	actor func(ctx context.Context) (string, error)
	log   *slog.Logger
	// snapshotting bounds the leader to one backup snapshot at a time:
	// each one serialises the whole state and compacts the log.
	snapshotting atomic.Bool
}

// New builds the backup service over cfg's member.
func New(cfg Config) *Service {
	return &Service{rt: cfg.Member, fsm: cfg.State, actor: cfg.Actor, log: cfg.Log}
}

// Register registers the service on srv.
func (s *Service) Register(srv *grpc.Server) { kqpb.RegisterBackupServiceServer(srv, s) }

// admin returns the caller when it may take a backup. On the leader the
// policy is read linearizably; a follower serving its own sealed files
// decides on its applied state.
func (s *Service) admin(ctx context.Context, leader bool) (string, error) {
	if leader && !s.rt.IsLeader() {
		return "", status.Error(codes.Unavailable, "not the leader; backups are taken through the leader")
	}
	actor, err := s.actor(ctx)
	if err != nil {
		return "", err
	}
	if leader {
		if err := s.rt.LinearizableRead(ctx); err != nil {
			return "", service.ToStatus(err)
		}
	}
	if err := s.fsm.AuthorizeErr(actor, policy.ActSetPolicy, ""); err != nil {
		return "", service.ToStatus(err)
	}
	return actor, nil
}

// Snapshot streams a raft snapshot holding everything committed.
func (s *Service) Snapshot(_ *kqpb.BackupSnapshotRequest, stream kqpb.BackupService_SnapshotServer) error {
	ctx := stream.Context()
	actor, err := s.admin(ctx, true)
	if err != nil {
		return err
	}
	if !s.snapshotting.CompareAndSwap(false, true) {
		return status.Error(codes.ResourceExhausted, "a backup snapshot is being taken; retry when it is done")
	}
	defer s.snapshotting.Store(false)
	meta, rc, err := s.rt.BackupSnapshot(ctx)
	if err != nil {
		return service.ToStatus(err)
	}
	defer rc.Close()
	s.log.Info("backup snapshot", "actor", actor, "index", meta.Index, "term", meta.Term, "bytes", meta.Size)
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
func (s *Service) Sealed(_ *kqpb.BackupSealedRequest, stream kqpb.BackupService_SealedServer) error {
	if _, err := s.admin(stream.Context(), false); err != nil {
		return err
	}
	files, err := s.rt.SealedFiles()
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	for _, rel := range files {
		f, err := s.rt.OpenSealed(rel)
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
func (s *Service) SignManifest(ctx context.Context, req *kqpb.SignManifestRequest) (*kqpb.SignManifestResponse, error) {
	if len(req.ManifestSha256) != 32 {
		return nil, status.Errorf(codes.InvalidArgument, "manifest_sha256: %d bytes, want 32", len(req.ManifestSha256))
	}
	actor, err := s.admin(ctx, true)
	if err != nil {
		return nil, err
	}
	k, _, ok := s.fsm.AuditKey()
	if !ok || k.State() != fsm.KeyActive {
		return nil, status.Error(codes.FailedPrecondition, "the cluster's audit key is not active yet")
	}
	var sum [32]byte
	copy(sum[:], req.ManifestSha256)
	id := fsm.AuditRequestPrefix + "backup-" + hex.EncodeToString(sum[:])
	s.log.Info("signing a backup manifest with the audit key", "actor", actor, "request_id", id)
	sig, err := s.rt.AuditSign(ctx, k, id, backup.ManifestMessage(sum))
	if errors.Is(err, service.ErrSignEnded) {
		return nil, status.Error(codes.Aborted, "the audit key's signature failed; create the backup again")
	}
	if err != nil {
		return nil, service.ToStatus(err)
	}
	return &kqpb.SignManifestResponse{Key: k.Name, PublicKey: k.PublicKey(), Signature: sig, RequestId: id}, nil
}
