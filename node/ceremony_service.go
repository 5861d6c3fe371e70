package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus"
)

// ceremonyService implements CeremonyService. Like PolicyService it is
// served by the leader: a follower says UNAVAILABLE and kq moves on. Every
// change is an entry the FSM decides at its index (who may propose,
// approve, cancel, freeze); reads are for operators and cluster-admins,
// decided here on the leader's state after a linearizable read.
type ceremonyService struct {
	kqpb.UnimplementedCeremonyServiceServer
	n *Node
}

// Bounds checked before anything heavy.
const (
	maxCeremonyParamsBytes = 4 << 10
	maxSignatureHexBytes   = 2 * 64
	maxApprovalKeyBytes    = 64
)

func (s *ceremonyService) onLeader(ctx context.Context) (string, error) {
	if !s.n.raft.IsLeader() {
		return "", status.Error(codes.Unavailable, "not the leader; ceremony calls are served by the leader")
	}
	actor, err := s.n.actor(ctx)
	if err != nil {
		return "", err
	}
	if err := s.n.raft.LinearizableRead(ctx); err != nil {
		return "", toStatus(err)
	}
	return actor, nil
}

// reader checks that actor may read ceremonies: an operator or a
// cluster-admin (anyone under the open bootstrap policy).
func (s *ceremonyService) reader(actor string) error {
	st, _ := s.n.fsm.PolicyInForce()
	who, _ := consensus.PrincipalOf(actor)
	if _, op := st.Policy.Operators[who]; op && !slices.Contains(st.Policy.Denied, who) {
		return nil
	}
	if err := s.n.fsm.AuthorizeErr(actor, consensus.ActSetPolicy, ""); err != nil {
		return status.Errorf(codes.PermissionDenied, "ceremonies are read by operators and cluster-admins: %v", err)
	}
	return nil
}

func (s *ceremonyService) ProposeCeremony(ctx context.Context, req *kqpb.ProposeCeremonyRequest) (*kqpb.Ceremony, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	kind := consensus.CeremonyKind(req.Kind)
	params := req.ParamsJson
	switch {
	case len(params) > maxCeremonyParamsBytes:
		return nil, status.Errorf(codes.InvalidArgument, "params larger than %d bytes", maxCeremonyParamsBytes)
	case kind == consensus.KindPolicyChange || kind == consensus.KindOperators:
		p, err := consensus.ParsePolicy(req.PolicyDocument)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		doc, sum, err := p.Canonical()
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		b, err := json.Marshal(consensus.PolicyParams{Document: string(doc), SHA256: sum})
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		params = string(b)
	case kind == consensus.KindKeyDestroy:
		var p consensus.KeyDestroyParams
		if err := json.Unmarshal([]byte(params), &p); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "key-destroy params: %v", err)
		}
		if p.Delay == 0 {
			p.Delay = int64(s.n.cluster.Lifecycle.DestroyPending)
		}
		b, err := json.Marshal(p)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		params = string(b)
	}
	ttl := req.TtlNanos
	if ttl == 0 {
		ttl = int64(consensus.DefaultCeremonyTTL)
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	res, err := s.n.apply(ctx, &consensus.ProposeCeremony{Kind: kind, Params: params, Nonce: hex.EncodeToString(nonce[:]), TTL: ttl, Actor: actor})
	if err != nil {
		return nil, err
	}
	return ceremonyPB(res.Ceremony, s.n.fsm.ReplicatedTime()), nil
}

func (s *ceremonyService) ApproveCeremony(ctx context.Context, req *kqpb.ApproveCeremonyRequest) (*kqpb.Ceremony, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkIdent("ceremony id", req.Id, 64, ""); err != nil {
		return nil, err
	}
	if len(req.PublicKey) > maxApprovalKeyBytes || len(req.Signature) > maxSignatureHexBytes {
		return nil, status.Error(codes.InvalidArgument, "public key or signature too long")
	}
	res, err := s.n.apply(ctx, &consensus.ApproveCeremony{ID: req.Id, PublicKey: req.PublicKey, Signature: req.Signature, Actor: actor})
	if err != nil {
		return nil, err
	}
	return ceremonyPB(res.Ceremony, s.n.fsm.ReplicatedTime()), nil
}

func (s *ceremonyService) CancelCeremony(ctx context.Context, req *kqpb.CeremonyRequest) (*kqpb.Ceremony, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkIdent("ceremony id", req.Id, 64, ""); err != nil {
		return nil, err
	}
	res, err := s.n.apply(ctx, &consensus.CancelCeremony{ID: req.Id, Actor: actor})
	if err != nil {
		return nil, err
	}
	return ceremonyPB(res.Ceremony, s.n.fsm.ReplicatedTime()), nil
}

func (s *ceremonyService) GetCeremony(ctx context.Context, req *kqpb.CeremonyRequest) (*kqpb.Ceremony, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.reader(actor); err != nil {
		return nil, err
	}
	c, ok := s.n.fsm.Ceremony(req.Id)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "ceremony %.64q: %v", req.Id, consensus.ErrUnknownCeremony)
	}
	return ceremonyPB(c, s.n.fsm.ReplicatedTime()), nil
}

func (s *ceremonyService) ListCeremonies(ctx context.Context, _ *kqpb.ListCeremoniesRequest) (*kqpb.ListCeremoniesResponse, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.reader(actor); err != nil {
		return nil, err
	}
	now := s.n.fsm.ReplicatedTime()
	out := &kqpb.ListCeremoniesResponse{}
	for _, c := range s.n.fsm.Ceremonies() {
		out.Ceremonies = append(out.Ceremonies, ceremonyPB(c, now))
	}
	return out, nil
}

func (s *ceremonyService) Freeze(ctx context.Context, req *kqpb.FreezeRequest) (*kqpb.FreezeState, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.n.apply(ctx, &consensus.Freeze{Reason: req.Reason, Actor: actor}); err != nil {
		return nil, err
	}
	return freezePB(s.n.fsm.FrozenState()), nil
}

func (s *ceremonyService) Unfreeze(ctx context.Context, _ *kqpb.UnfreezeRequest) (*kqpb.FreezeState, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.n.apply(ctx, &consensus.Unfreeze{Actor: actor}); err != nil {
		return nil, err
	}
	return freezePB(s.n.fsm.FrozenState()), nil
}

func (s *ceremonyService) GetFreeze(ctx context.Context, _ *kqpb.GetFreezeRequest) (*kqpb.FreezeState, error) {
	if _, err := s.onLeader(ctx); err != nil {
		return nil, err
	}
	return freezePB(s.n.fsm.FrozenState()), nil
}

func ceremonyPB(c *consensus.Ceremony, now int64) *kqpb.Ceremony {
	if c == nil {
		return nil
	}
	out := &kqpb.Ceremony{Id: c.ID, Kind: string(c.Kind), ParamsJson: c.Params, ParamsSha256: c.ParamsSHA256, Summary: c.Summary,
		Proposer: c.Proposer, Nonce: c.Nonce, Cluster: c.Cluster, Digest: c.Digest, Quorum: uint32(c.Quorum), ProposerCounts: c.ProposerCounts,
		Counted: uint32(c.Counted()), PolicyVersion: c.PolicyVersion, CreatedAtUnixNano: c.CreatedAt, ExpiresAtUnixNano: c.ExpiresAt,
		State: string(c.StateAt(now)), Note: c.Note, CreatedIndex: c.CreatedIndex, EndedIndex: c.EndedIndex}
	for _, a := range c.Approvers {
		out.Approvers = append(out.Approvers, &kqpb.CeremonyApprover{Name: a.Name, PublicKey: a.PublicKey})
	}
	for _, a := range c.Approvals {
		out.Approvals = append(out.Approvals, &kqpb.CeremonyApproval{Operator: a.Operator, PublicKey: a.PublicKey, Signature: a.Signature,
			Index: a.Index, TimeUnixNano: a.Time, Counted: a.Counted})
	}
	return out
}

func freezePB(f *consensus.Frozen) *kqpb.FreezeState {
	if f == nil {
		return &kqpb.FreezeState{}
	}
	return &kqpb.FreezeState{Frozen: true, Actor: f.Actor, Reason: f.Reason, Index: f.Index, TimeUnixNano: f.Time}
}
