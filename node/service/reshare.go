package service

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// membershipService implements MembershipService. The leader answers; a
// follower says UNAVAILABLE and kq moves on to the next node.
type membershipService struct {
	kqpb.UnimplementedMembershipServiceServer
	n *core
}

// ReshareKey reshares a key version to the live holders with the asked
// threshold (`kq key reshare KEY --threshold T`). Who may is the key's
// key-admin, decided by the entry.
func (s *membershipService) ReshareKey(ctx context.Context, req *kqpb.ReshareKeyRequest) (*kqpb.Key, error) {
	n := s.n
	if err := ensureRequestID(&req.RequestId); err != nil {
		return nil, err
	}
	if !n.rt.IsLeader() {
		return nil, status.Error(codes.Unavailable, "not the leader; resharing is served by the leader")
	}
	if err := keyName(&req.Key); err != nil {
		return nil, err
	}
	if req.Threshold > 1<<10 {
		return nil, status.Errorf(codes.InvalidArgument, "threshold %d: far more than any cluster's members", req.Threshold)
	}
	actor, err := n.actor(ctx)
	if err != nil {
		return nil, err
	}
	k, err := n.readKey(ctx, req.Key)
	if err != nil {
		return nil, err
	}
	threshold := int(req.Threshold)
	if threshold == 0 {
		threshold = k.Threshold
	}
	if st, _ := n.fsm.PolicyInForce(); threshold != k.Threshold && st.Policy.HasOperators() {
		// Refused before any holder is asked; the entry refuses it too.
		return nil, ToStatus(fmt.Errorf("reshare %q to threshold %d: %w: kind %s", k.Name, threshold, fsm.ErrCeremonyRequired, policy.KindThreshold))
	}
	return n.reshareLive(ctx, k, &fsm.ReshareKey{RequestID: req.RequestId, Key: k.Name, Version: req.Version,
		Threshold: threshold, Actor: actor, ActorSerial: n.actorSerial(ctx)})
}

// reshareLive reshares to the key's holders this leader reaches, dealt by
// threshold+1 of them, and waits until the new shares are in use. A holder
// it cannot reach is left out: its share becomes useless, and the
// membership reconciler gives it a new one once it is back. Too few live
// holders to deal, or to keep the threshold, is an error that changes
// nothing.
func (n *core) reshareLive(ctx context.Context, k *fsm.Key, cmd *fsm.ReshareKey) (*kqpb.Key, error) {
	missing := n.rt.Unreachable(k.Members)
	live := slices.DeleteFunc(slices.Clone(k.Members), func(m string) bool { return slices.Contains(missing, m) })
	if len(missing) > 0 {
		cmd.Reason = fmt.Sprintf("%v unreachable", missing)
	}
	if cmd.Threshold >= len(live) {
		return nil, status.Errorf(codes.FailedPrecondition, "reshare %q to threshold %d: %d holders reachable (%v), need at least %d",
			k.Name, cmd.Threshold, len(live), live, cmd.Threshold+1)
	}
	cmd.Members = live
	committee, err := n.rt.PickCommittee(k)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "reshare %q: %v: the old shares stay in use", k.Name, err)
	}
	cmd.Committee = committee
	wake := n.rt.WatchKey(k.Name)
	res, err := n.rt.Apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	if v := res.Key.Version(res.Version); v.Refresh != nil {
		return n.waitRefreshed(ctx, wake, k.Name, res.Version, v.Refresh.Epoch)
	}
	return n.keyToProto(res.Key)
}
