// Package ceremonies is keyquorum's CeremonyService, and only that:
// proposing, approving, cancelling and reading operator ceremonies, and
// freezing the cluster, all served by the leader. Every change is an entry
// the state machine decides; what the service needs of the member and of
// the replicated state it asks through the narrow Member and State
// interfaces below, and the request checks, the status mapping and the
// caller's identity are package service's.
package ceremonies

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/freeze"
	"github.com/keyquorum/keyquorum/consensus/fsm/inforce"
	"github.com/keyquorum/keyquorum/consensus/policy"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/service"
)

// Member is what the ceremony service asks of the running member; a
// service.Runtime is one.
type Member interface {
	Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error)
	LinearizableRead(ctx context.Context) error
	IsLeader() bool
	// CeremonyContext is the leader's choices for a ceremony of kind, as
	// the direct path makes them; nil when there are none.
	CeremonyContext(kind policy.CeremonyKind, params string) *ceremony.Context
}

// State is what the ceremony service reads of the replicated state; a
// service.State is one.
type State interface {
	Key(name string) (*fsm.Key, bool)
	Ceremony(id string) (*ceremony.Ceremony, bool)
	Ceremonies() []*ceremony.Ceremony
	FrozenState() *freeze.Frozen
	PolicyInForce() (st inforce.Record, set bool)
	AuthorizeErr(actor string, a policy.Action, key string) error
	ReplicatedTime() int64
}

// Config is what New needs.
type Config struct {
	Member  Member
	State   State
	Cluster *config.Cluster
	// Actor names who asked for the call in ctx (service.Actor).
	Actor func(ctx context.Context) (string, error)
}

// Service implements CeremonyService. Like PolicyService it is served by
// the leader: a follower says UNAVAILABLE and kq moves on. Every change is
// an entry the FSM decides at its index (who may propose, approve, cancel,
// freeze); reads are for operators and cluster-admins, decided here on the
// leader's state after a linearizable read.
type Service struct {
	kqpb.UnimplementedCeremonyServiceServer
	rt      Member
	fsm     State
	cluster *config.Cluster
	actor   func(ctx context.Context) (string, error)
}

// New builds the ceremony service over cfg's member.
func New(cfg Config) *Service {
	return &Service{rt: cfg.Member, fsm: cfg.State, cluster: cfg.Cluster, actor: cfg.Actor}
}

// Register registers the service on srv.
func (s *Service) Register(srv *grpc.Server) { kqpb.RegisterCeremonyServiceServer(srv, s) }

// Bounds checked before anything heavy.
const (
	maxCeremonyParamsBytes = 4 << 10
	maxSignatureHexBytes   = 2 * 64
	maxApprovalKeyBytes    = 64
)

func (s *Service) onLeader(ctx context.Context) (string, error) {
	if !s.rt.IsLeader() {
		return "", status.Error(codes.Unavailable, "not the leader; ceremony calls are served by the leader")
	}
	actor, err := s.actor(ctx)
	if err != nil {
		return "", err
	}
	if err := s.rt.LinearizableRead(ctx); err != nil {
		return "", service.ToStatus(err)
	}
	return actor, nil
}

// reader checks that actor may read ceremonies: an operator or a
// cluster-admin (anyone under the open bootstrap policy).
func (s *Service) reader(actor string) error {
	st, _ := s.fsm.PolicyInForce()
	who, _ := policy.PrincipalOf(actor)
	if _, op := st.Policy.Operators[who]; op && !slices.Contains(st.Policy.Denied, who) {
		return nil
	}
	if err := s.fsm.AuthorizeErr(actor, policy.ActSetPolicy, ""); err != nil {
		return status.Errorf(codes.PermissionDenied, "ceremonies are read by operators and cluster-admins: %v", err)
	}
	return nil
}

func (s *Service) ProposeCeremony(ctx context.Context, req *kqpb.ProposeCeremonyRequest) (*kqpb.Ceremony, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	kind := policy.CeremonyKind(req.Kind)
	params := req.ParamsJson
	switch {
	case len(params) > maxCeremonyParamsBytes:
		return nil, status.Errorf(codes.InvalidArgument, "params larger than %d bytes", maxCeremonyParamsBytes)
	case kind == policy.KindPolicyChange || kind == policy.KindOperators:
		p, err := policy.Parse(req.PolicyDocument)
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		doc, sum, err := p.Canonical()
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		b, err := json.Marshal(ceremony.PolicyParams{Document: string(doc), SHA256: sum})
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		params = string(b)
	case kind == policy.KindMembership:
		// The same checks as kq node add|remove|replace's.
		var p ceremony.MembershipParams
		if err := json.Unmarshal([]byte(params), &p); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "membership params: %v", err)
		}
		if p.Node != "" && !config.ValidNodeID(p.Node) {
			return nil, status.Errorf(codes.InvalidArgument, "node id %.64q is not valid", p.Node)
		}
		if p.New != nil {
			if _, err := service.NewMemberOf(&kqpb.AddNodeRequest{Id: p.New.ID, RaftAddress: p.New.Raft, PeerAddress: p.New.Peer, ClientAddress: p.New.Client}); err != nil {
				return nil, err
			}
		}
	case kind == policy.KindKeyDestroy:
		var p ceremony.KeyDestroyParams
		if err := json.Unmarshal([]byte(params), &p); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "key-destroy params: %v", err)
		}
		if p.Delay == 0 {
			p.Delay = int64(s.cluster.Lifecycle.DestroyPending)
		}
		b, err := json.Marshal(p)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		params = string(b)
	}
	ttl := req.TtlNanos
	if ttl == 0 {
		ttl = int64(ceremony.DefaultTTL)
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	// Only a membership change needs the leader's context to be checked
	// at the proposal (the bootstrap members); the rest is checked against
	// the replicated state, and again, with the context, at execution.
	var cctx *ceremony.Context
	if kind == policy.KindMembership {
		cctx = s.rt.CeremonyContext(kind, params)
	}
	res, err := s.rt.Apply(ctx, &fsm.ProposeCeremony{Kind: kind, Params: params, Nonce: hex.EncodeToString(nonce[:]), TTL: ttl,
		Context: cctx, Actor: actor})
	if err != nil {
		return nil, err
	}
	return ceremonyPB(res.Ceremony, s.fsm.ReplicatedTime()), nil
}

func (s *Service) ApproveCeremony(ctx context.Context, req *kqpb.ApproveCeremonyRequest) (*kqpb.Ceremony, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	if err := service.CheckIdent("ceremony id", req.Id, 64, ""); err != nil {
		return nil, err
	}
	if len(req.PublicKey) > maxApprovalKeyBytes || len(req.Signature) > maxSignatureHexBytes {
		return nil, status.Error(codes.InvalidArgument, "public key or signature too long")
	}
	var cctx *ceremony.Context
	if c, ok := s.fsm.Ceremony(req.Id); ok && c.State == ceremony.Pending {
		if cctx, err = s.executionContext(c); err != nil {
			return nil, err
		}
	}
	res, err := s.rt.Apply(ctx, &fsm.ApproveCeremony{ID: req.Id, PublicKey: req.PublicKey, Signature: req.Signature,
		Context: cctx, Actor: actor})
	if err != nil {
		return nil, err
	}
	return ceremonyPB(res.Ceremony, s.fsm.ReplicatedTime()), nil
}

func (s *Service) CancelCeremony(ctx context.Context, req *kqpb.CeremonyRequest) (*kqpb.Ceremony, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	if err := service.CheckIdent("ceremony id", req.Id, 64, ""); err != nil {
		return nil, err
	}
	res, err := s.rt.Apply(ctx, &fsm.CancelCeremony{ID: req.Id, Actor: actor})
	if err != nil {
		return nil, err
	}
	return ceremonyPB(res.Ceremony, s.fsm.ReplicatedTime()), nil
}

func (s *Service) GetCeremony(ctx context.Context, req *kqpb.CeremonyRequest) (*kqpb.Ceremony, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.reader(actor); err != nil {
		return nil, err
	}
	c, ok := s.fsm.Ceremony(req.Id)
	if !ok {
		return nil, status.Errorf(codes.NotFound, "ceremony %.64q: %v", req.Id, fsm.ErrUnknownCeremony)
	}
	return ceremonyPB(c, s.fsm.ReplicatedTime()), nil
}

func (s *Service) ListCeremonies(ctx context.Context, _ *kqpb.ListCeremoniesRequest) (*kqpb.ListCeremoniesResponse, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.reader(actor); err != nil {
		return nil, err
	}
	now := s.fsm.ReplicatedTime()
	out := &kqpb.ListCeremoniesResponse{}
	for _, c := range s.fsm.Ceremonies() {
		out.Ceremonies = append(out.Ceremonies, ceremonyPB(c, now))
	}
	return out, nil
}

func (s *Service) Freeze(ctx context.Context, req *kqpb.FreezeRequest) (*kqpb.FreezeState, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.rt.Apply(ctx, &fsm.Freeze{Reason: req.Reason, Actor: actor}); err != nil {
		return nil, err
	}
	return freezePB(s.fsm.FrozenState()), nil
}

func (s *Service) Unfreeze(ctx context.Context, _ *kqpb.UnfreezeRequest) (*kqpb.FreezeState, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.rt.Apply(ctx, &fsm.Unfreeze{Actor: actor}); err != nil {
		return nil, err
	}
	return freezePB(s.fsm.FrozenState()), nil
}

func (s *Service) GetFreeze(ctx context.Context, _ *kqpb.GetFreezeRequest) (*kqpb.FreezeState, error) {
	if _, err := s.onLeader(ctx); err != nil {
		return nil, err
	}
	return freezePB(s.fsm.FrozenState()), nil
}

func ceremonyPB(c *ceremony.Ceremony, now int64) *kqpb.Ceremony {
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

func freezePB(f *freeze.Frozen) *kqpb.FreezeState {
	if f == nil {
		return &kqpb.FreezeState{}
	}
	return &kqpb.FreezeState{Frozen: true, Actor: f.Actor, Reason: f.Reason, Index: f.Index, TimeUnixNano: f.Time}
}

// executionContext is the context an approval of c carries, in case it is
// the one that executes c: what the direct path's leader would choose
// now. A threshold change that could execute with this approval and has
// too few reachable holders to deal is refused here, before anything is
// appended: the ceremony stays pending, to be approved when they are back.
func (s *Service) executionContext(c *ceremony.Ceremony) (*ceremony.Context, error) {
	cctx := s.rt.CeremonyContext(c.Kind, c.Params)
	if c.Kind != policy.KindThreshold || c.Quorum-c.Counted() > 1 {
		return cctx, nil
	}
	if cctx == nil {
		cctx = &ceremony.Context{}
	}
	var p ceremony.ThresholdParams
	if err := json.Unmarshal([]byte(c.Params), &p); err != nil {
		return nil, status.Errorf(codes.Internal, "ceremony %s params: %v", c.ID, err)
	}
	k, ok := s.fsm.Key(p.Key)
	if !ok {
		return cctx, nil // the entry fails the ceremony: the key is gone
	}
	switch {
	case len(cctx.Committee) == 0:
		return nil, status.Errorf(codes.FailedPrecondition, "approve %s: %v: this approval could execute the reshare and %d holders must deal it; nothing was recorded, approve again when they are reachable",
			c.ID, service.ErrTooFewMembers, k.Threshold+1)
	case p.Threshold >= len(cctx.Holders):
		return nil, status.Errorf(codes.FailedPrecondition, "approve %s: threshold %d needs at least %d reachable holders, %d are (%v); nothing was recorded, approve again when they are",
			c.ID, p.Threshold, p.Threshold+1, len(cctx.Holders), cctx.Holders)
	}
	return cctx, nil
}
