package service

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// The lifecycle RPCs share one path: forward to the leader, append one
// ChangeKey entry, and answer with the key as `kq key get` shows it.
// Rotation and refresh also wait for the members' work to end.

func (s *keyService) RotateKey(ctx context.Context, req *kqpb.KeyVersionRequest) (*kqpb.Key, error) {
	return s.change(ctx, req.Key, &req.RequestId, &fsm.ChangeKey{Op: fsm.OpRotate, Version: req.Version},
		func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Key, error) { return c.RotateKey(ctx, req) })
}

func (s *keyService) PromoteKey(ctx context.Context, req *kqpb.PromoteKeyRequest) (*kqpb.Key, error) {
	window := s.n.cluster.Lifecycle.DualSignWindow
	if req.DualSignMs != nil {
		window = time.Duration(*req.DualSignMs) * time.Millisecond
	}
	if window < 0 || window > 30*24*time.Hour {
		return nil, status.Errorf(codes.InvalidArgument, "dual-sign window %v: must be in [0, 720h]", window)
	}
	return s.change(ctx, req.Key, &req.RequestId, &fsm.ChangeKey{Op: fsm.OpPromote, Version: req.Version, DualSign: int64(window)},
		func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Key, error) { return c.PromoteKey(ctx, req) })
}

func (s *keyService) RollbackKey(ctx context.Context, req *kqpb.KeyVersionRequest) (*kqpb.Key, error) {
	return s.change(ctx, req.Key, &req.RequestId, &fsm.ChangeKey{Op: fsm.OpRollback, Version: req.Version},
		func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Key, error) { return c.RollbackKey(ctx, req) })
}

func (s *keyService) RetireKeyVersion(ctx context.Context, req *kqpb.KeyVersionRequest) (*kqpb.Key, error) {
	return s.change(ctx, req.Key, &req.RequestId, &fsm.ChangeKey{Op: fsm.OpRetire, Version: req.Version},
		func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Key, error) {
			return c.RetireKeyVersion(ctx, req)
		})
}

func (s *keyService) RevokeKeyVersion(ctx context.Context, req *kqpb.KeyVersionRequest) (*kqpb.Key, error) {
	return s.change(ctx, req.Key, &req.RequestId, &fsm.ChangeKey{Op: fsm.OpRevoke, Version: req.Version},
		func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Key, error) {
			return c.RevokeKeyVersion(ctx, req)
		})
}

func (s *keyService) SetKeyPolicy(ctx context.Context, req *kqpb.SetKeyPolicyRequest) (*kqpb.Key, error) {
	return s.change(ctx, req.Key, &req.RequestId, &fsm.ChangeKey{Op: fsm.OpPolicy, MinSignVersion: req.MinSignVersion,
		MinVerifyVersion: req.MinVerifyVersion, DeletionAllowed: req.DeletionAllowed},
		func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Key, error) { return c.SetKeyPolicy(ctx, req) })
}

func (s *keyService) DestroyKeyVersion(ctx context.Context, req *kqpb.KeyVersionRequest) (*kqpb.Key, error) {
	if req.Version == 0 {
		return nil, status.Error(codes.InvalidArgument, "destroy names a version explicitly")
	}
	return s.change(ctx, req.Key, &req.RequestId, &fsm.ChangeKey{Op: fsm.OpDestroy, Version: req.Version,
		Delay: int64(s.n.cluster.Lifecycle.DestroyPending)},
		func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Key, error) {
			return c.DestroyKeyVersion(ctx, req)
		})
}

func (s *keyService) CancelDestroyKeyVersion(ctx context.Context, req *kqpb.KeyVersionRequest) (*kqpb.Key, error) {
	if req.Version == 0 {
		return nil, status.Error(codes.InvalidArgument, "cancel-destroy names a version explicitly")
	}
	return s.change(ctx, req.Key, &req.RequestId, &fsm.ChangeKey{Op: fsm.OpCancelDestroy, Version: req.Version},
		func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Key, error) {
			return c.CancelDestroyKeyVersion(ctx, req)
		})
}

func (s *keyService) RefreshKey(ctx context.Context, req *kqpb.KeyVersionRequest) (*kqpb.Key, error) {
	return s.change(ctx, req.Key, &req.RequestId, &fsm.ChangeKey{Op: fsm.OpRefresh, Version: req.Version},
		func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Key, error) { return c.RefreshKey(ctx, req) })
}

// change runs one lifecycle change on the leader.
func (s *keyService) change(ctx context.Context, name string, reqID *string, cmd *fsm.ChangeKey,
	fwd func(context.Context, kqpb.KeyServiceClient) (*kqpb.Key, error)) (*kqpb.Key, error) {
	if err := ensureRequestID(reqID); err != nil {
		return nil, err
	}
	n := s.n
	if resp, forwarded, err := forward(ctx, n, fwd); forwarded {
		return resp, err
	}
	if err := keyName(&name); err != nil {
		return nil, err
	}
	actor, err := n.actor(ctx)
	if err != nil {
		return nil, err
	}
	cmd.RequestID, cmd.Key, cmd.Actor, cmd.ActorSerial = *reqID, name, actor, n.actorSerial(ctx)
	k, err := n.readKey(ctx, name)
	if err != nil {
		return nil, err
	}
	switch cmd.Op {
	case fsm.OpRotate:
		if err := n.requireEveryMember(string(cmd.Op), k.Members); err != nil {
			return nil, err
		}
	case fsm.OpRefresh:
		if len(n.rt.Unreachable(k.Members)) > 0 {
			// A dead holder must not block a refresh: reshare to the live
			// ones (reshare.go).
			return n.reshareLive(ctx, k, &fsm.ReshareKey{RequestID: cmd.RequestID, Key: name, Version: cmd.Version,
				Threshold: k.Threshold, Actor: actor, ActorSerial: cmd.ActorSerial})
		}
	}
	if cmd.Op == fsm.OpRefresh {
		if cmd.Committee, err = n.rt.PickCommittee(k); err != nil {
			return nil, ToStatus(err)
		}
	}
	if cmd.Op == fsm.OpRevoke && n.faults.RevokeLater != nil {
		return n.revokeLate(k, cmd)
	}
	wake := n.rt.WatchKey(name)
	res, err := n.rt.Apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	switch cmd.Op {
	case fsm.OpRotate:
		return n.waitGenerated(ctx, wake, name, res.Version, res.Key.CreateRequestID)
	case fsm.OpRefresh:
		if v := res.Key.Version(res.Version); v.Refresh != nil {
			return n.waitRefreshed(ctx, wake, name, res.Version, v.Refresh.Epoch)
		}
	}
	return n.keyToProto(res.Key)
}

// waitRefreshed waits until the refresh to epoch ends and reports whether
// it switched the shares.
func (n *core) waitRefreshed(ctx context.Context, wake <-chan struct{}, name string, version, epoch uint32) (*kqpb.Key, error) {
	for {
		k, ok := n.fsm.Key(name)
		if !ok || k.Version(version) == nil {
			return nil, status.Error(codes.Aborted, "key changed while waiting")
		}
		v := k.Version(version)
		if v.Refresh == nil || v.Refresh.Epoch != epoch {
			if v.Epoch < epoch {
				return nil, status.Errorf(codes.Aborted, "refresh of %q v%d failed; the old shares stay in use (see the audit trail)", name, version)
			}
			return n.keyToProto(k)
		}
		select {
		case <-wake:
			wake = n.rt.WatchKey(name)
		case <-ctx.Done():
			return nil, status.Errorf(codes.DeadlineExceeded, "refresh of %q v%d still running (%d of %d new shares stored)", name, version, len(v.Refresh.Confirmed), len(v.Refresh.Parties(k)))
		}
	}
}

// revokeLate is the revoked-signs bug: it answers as if the version were
// revoked and appends the revocation only later.
func (n *core) revokeLate(k *fsm.Key, cmd *fsm.ChangeKey) (*kqpb.Key, error) {
	version := cmd.Version
	if version == 0 {
		version = k.Primary
	}
	if v := k.Version(version); v != nil {
		v.State = fsm.KeyRevoked
	}
	n.faults.RevokeLater(cmd)
	return n.keyToProto(k)
}
