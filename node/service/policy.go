package service

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// policyService implements PolicyService. The leader answers: a follower
// says UNAVAILABLE, and kq moves on to the next node, as for any node that
// cannot serve. Who may call is the replicated policy's to decide, in the
// FSM for changes and here, on the leader's state, for reads.
type policyService struct {
	kqpb.UnimplementedPolicyServiceServer
	n *core
}

// onLeader checks that this node leads and that actor may administer the
// policy as of a linearizable read.
func (s *policyService) onLeader(ctx context.Context) (string, error) {
	if !s.n.rt.IsLeader() {
		return "", status.Error(codes.Unavailable, "not the leader; policy calls are served by the leader")
	}
	actor, err := s.n.actor(ctx)
	if err != nil {
		return "", err
	}
	if err := s.n.rt.LinearizableRead(ctx); err != nil {
		return "", ToStatus(err)
	}
	if err := s.n.fsm.AuthorizeErr(actor, policy.ActSetPolicy, ""); err != nil {
		return "", ToStatus(err)
	}
	return actor, nil
}

func (s *policyService) GetPolicy(ctx context.Context, _ *kqpb.GetPolicyRequest) (*kqpb.PolicyResponse, error) {
	if _, err := s.onLeader(ctx); err != nil {
		return nil, err
	}
	return s.inForce()
}

func (s *policyService) inForce() (*kqpb.PolicyResponse, error) {
	st, set := s.n.fsm.PolicyInForce()
	doc, _, err := st.Policy.Canonical()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return &kqpb.PolicyResponse{Version: st.Version, Sha256: st.SHA256, PolicyJson: string(doc), Set: set}, nil
}

func (s *policyService) ApplyPolicy(ctx context.Context, req *kqpb.ApplyPolicyRequest) (*kqpb.ApplyPolicyResponse, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	p, err := policy.Parse(req.Document)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	doc, sum, err := p.Canonical()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	prev, _ := s.n.fsm.PolicyInForce()
	res, err := s.n.rt.Apply(ctx, &fsm.SetPolicy{Document: string(doc), SHA256: sum, BaseVersion: req.BaseVersion,
		Actor: actor, ActorSerial: s.n.actorSerial(ctx)})
	if err != nil {
		if errors.Is(res.Err, fsm.ErrStale) {
			return nil, status.Error(codes.FailedPrecondition, res.Err.Error())
		}
		return nil, err
	}
	now, err := s.inForce()
	if err != nil {
		return nil, err
	}
	return &kqpb.ApplyPolicyResponse{Policy: now, PreviousSha256: prev.SHA256, Diff: policy.Diff(prev.Policy, p), Unchanged: res.Duplicate}, nil
}

func (s *policyService) RevokePrincipal(ctx context.Context, req *kqpb.RevokePrincipalRequest) (*kqpb.PolicyResponse, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	cmd := &fsm.RevokePrincipal{Principal: req.Principal, Actor: actor, ActorSerial: s.n.actorSerial(ctx)}
	switch {
	case (req.Principal == "") == (req.Serial == ""):
		return nil, status.Error(codes.InvalidArgument, "name exactly one: a principal or a certificate serial (--serial)")
	case req.Serial != "":
		if cmd.Serial, err = policy.CanonicalSerial(req.Serial); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
	default:
		if err := CheckIdent("principal", req.Principal, 63, ""); err != nil {
			return nil, err
		}
	}
	if _, err := s.n.rt.Apply(ctx, cmd); err != nil {
		return nil, err
	}
	return s.inForce()
}
