package service

import (
	"context"
	"fmt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"slices"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/fsm/settings"
)

// operatorService implements OperatorService.
type operatorService struct {
	kqpb.UnimplementedOperatorServiceServer
	n *core
}

// Status reports this node's own view: raft role and indexes, and the
// members' pre-params readiness as the replicated state records it.
func (s *operatorService) Status(ctx context.Context, _ *kqpb.StatusRequest) (*kqpb.StatusResponse, error) {
	n := s.n
	actor, err := n.actor(ctx)
	if err != nil {
		return nil, err
	}
	all, _, err := n.fsm.AuditScope(actor)
	if err != nil {
		return nil, ToStatus(err)
	}
	ready := n.fsm.PreParamsReady()
	ts := n.fsm.TableStats()
	out := &kqpb.StatusResponse{
		ClusterId: n.cluster.ID,
		NodeId:    n.self,
		Keys:      uint32(clientKeys(n.fsm.Keys())),
		// The bounds are replicated settings; a retry older than either
		// is treated as a new request.
		SignRecords:       uint32(ts.SignRecords),
		MaxSignRecords:    uint32(ts.MaxSignRecords),
		RequestRecords:    uint32(ts.RequestRecords),
		MaxRequestRecords: uint32(ts.MaxRequestRecords),
		DedupAgeSeconds:   uint64(ts.RecordAge.Seconds()),
		Handles:           uint32(ts.Handles),
		MaxHandles:        uint32(ts.MaxHandles),
	}
	if !all {
		// A tenant's principal sees the cluster's health and its own
		// tenants' keys, not the cluster's volume of work.
		out.Keys = uint32(n.visibleKeys(actor))
		out.SignRecords, out.RequestRecords, out.Handles = 0, 0, 0
	}
	out.Protocol, out.MaxProtocol = n.fsm.Protocol(), fsm.MaxProtocol
	n.rt.LocalStatus(out)
	support, drift := n.fsm.ProtocolSupport(), n.fsm.SettingsDrift()
	for _, m := range n.rt.Members() {
		if m.State == membership.Removed {
			continue
		}
		out.Members = append(out.Members, &kqpb.Member{Id: m.ID, RaftAddress: m.Raft, ClientAddress: m.Client,
			PreparamsReady: slices.Contains(ready, m.ID), Protocol: support[m.ID], Drift: driftLines(drift[m.ID])})
	}
	return out, nil
}

// ClearBlame forgets the accusations against a member and lifts its
// exclusion, through an audited ClearBlame entry. Only the leader serves
// it, so that the caller's identity is the entry's actor without a
// forwarding hop; other nodes answer UNAVAILABLE and clients move on.
func (s *operatorService) ClearBlame(ctx context.Context, req *kqpb.ClearBlameRequest) (*kqpb.ClearBlameResponse, error) {
	n := s.n
	actor, err := n.actor(ctx)
	if err != nil {
		return nil, err
	}
	if !n.rt.IsMember(req.Member) {
		return nil, status.Errorf(codes.InvalidArgument, "member: %.64q is not in the cluster", req.Member)
	}
	if !n.rt.IsLeader() {
		return nil, status.Error(codes.Unavailable, "not the leader; ask the leader to clear blame")
	}
	res, err := n.rt.Apply(ctx, &fsm.ClearBlame{Member: req.Member, Actor: actor})
	if err != nil {
		return nil, err
	}
	return &kqpb.ClearBlameResponse{Cleared: !res.Duplicate, Note: res.Note}, nil
}

// visibleKeys counts the keys actor may read.
func (n *core) visibleKeys(actor string) int {
	c := 0
	for _, k := range n.fsm.Keys() {
		if !fsm.IsAuditKey(k.Name) && n.mayRead(actor, k.Name) {
			c++
		}
	}
	return c
}

// clientKeys counts the keys clients made, leaving out the cluster's audit
// key, which `kq audit head` shows.
func clientKeys(keys []*fsm.Key) int {
	n := 0
	for _, k := range keys {
		if !fsm.IsAuditKey(k.Name) {
			n++
		}
	}
	return n
}

// driftLines renders a member's drift for status output.
func driftLines(ds []settings.Drift) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, fmt.Sprintf("%s=%s (most members: %s)", d.Setting, d.Value, d.Baseline))
	}
	return out
}
