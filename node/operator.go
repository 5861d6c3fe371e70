package node

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/fsm/settings"
)

// operatorService implements OperatorService.
type operatorService struct {
	kqpb.UnimplementedOperatorServiceServer
	n *Node
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
		return nil, toStatus(err)
	}
	st := n.raft.Stats()
	ready := n.fsm.PreParamsReady()
	ts := n.fsm.TableStats()
	out := &kqpb.StatusResponse{
		ClusterId:    n.cluster.ID,
		NodeId:       n.self.ID,
		State:        strings.ToLower(st.State),
		LeaderId:     st.LeaderID,
		Term:         st.Term,
		CommitIndex:  st.CommitIndex,
		AppliedIndex: st.AppliedIndex,
		Preparams:    n.pre.Status(),
		Keys:         uint32(clientKeys(n.fsm.Keys())),
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
	out.Estimates = n.took.Estimates()
	support, drift := n.fsm.ProtocolSupport(), n.fsm.SettingsDrift()
	cv := n.clocks.View()
	out.ClockOffsetNanos, out.Clock = int64(cv.Offset), "ok"
	if cv.Err != nil {
		out.Clock = cv.Err.Error()
	}
	for _, m := range n.memberList() {
		if m.State == membership.Removed {
			continue
		}
		out.Members = append(out.Members, &kqpb.Member{Id: m.ID, RaftAddress: m.Raft, ClientAddress: m.Client,
			PreparamsReady: slices.Contains(ready, m.ID), Protocol: support[m.ID], Drift: driftLines(drift[m.ID])})
	}
	return out, nil
}

// visibleKeys counts the keys actor may read.
func (n *Node) visibleKeys(actor string) int {
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
