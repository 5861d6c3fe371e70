package service

import (
	"context"
	"net"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/node/config"
)

// AddNode, RemoveNode and ReplaceNode start a membership change with one
// ChangeMembers entry and answer at once; the leader's membership
// reconciler (node/members/reconcile.go) does the rest, and GetNodeStatus shows where
// it stands. Who may is decided by the entry (cluster-admin).

func (s *membershipService) AddNode(ctx context.Context, req *kqpb.AddNodeRequest) (*kqpb.NodeStatus, error) {
	m, err := NewMemberOf(req)
	if err != nil {
		return nil, err
	}
	return s.change(ctx, &fsm.ChangeMembers{Op: membership.Add, New: m}, m.ID)
}

func (s *membershipService) RemoveNode(ctx context.Context, req *kqpb.RemoveNodeRequest) (*kqpb.NodeStatus, error) {
	if !config.ValidNodeID(req.Id) {
		return nil, status.Errorf(codes.InvalidArgument, "node id %.64q is not valid", req.Id)
	}
	return s.change(ctx, &fsm.ChangeMembers{Op: membership.Remove, Node: req.Id}, req.Id)
}

func (s *membershipService) ReplaceNode(ctx context.Context, req *kqpb.ReplaceNodeRequest) (*kqpb.NodeStatus, error) {
	if !config.ValidNodeID(req.Id) {
		return nil, status.Errorf(codes.InvalidArgument, "node id %.64q is not valid", req.Id)
	}
	if req.With == nil {
		return nil, status.Error(codes.InvalidArgument, "replace needs the new node")
	}
	m, err := NewMemberOf(req.With)
	if err != nil {
		return nil, err
	}
	return s.change(ctx, &fsm.ChangeMembers{Op: membership.Replace, Node: req.Id, New: m}, m.ID)
}

// NewMemberOf checks a new node's id and addresses: for AddNode and
// ReplaceNode here, and for a membership ceremony's proposal.
func NewMemberOf(req *kqpb.AddNodeRequest) (*membership.Member, error) {
	if !config.ValidNodeID(req.Id) {
		return nil, status.Errorf(codes.InvalidArgument, "node id %.64q is not valid", req.Id)
	}
	for what, a := range map[string]string{"raft": req.RaftAddress, "peer": req.PeerAddress, "client": req.ClientAddress} {
		if !validAddress(a) {
			return nil, status.Errorf(codes.InvalidArgument, "%s address of %s: %.80q is not host:port", what, req.Id, a)
		}
	}
	return &membership.Member{ID: req.Id, Raft: req.RaftAddress, Peer: req.PeerAddress, Client: req.ClientAddress}, nil
}

func (s *membershipService) change(ctx context.Context, c *fsm.ChangeMembers, show string) (*kqpb.NodeStatus, error) {
	n := s.n
	if !n.rt.IsLeader() {
		return nil, status.Error(codes.Unavailable, "not the leader; membership changes are served by the leader")
	}
	actor, err := n.actor(ctx)
	if err != nil {
		return nil, err
	}
	c.Actor = actor
	for _, m := range n.cluster.Nodes {
		c.Bootstrap = append(c.Bootstrap, membership.Member{ID: m.ID, Raft: m.Raft, Peer: m.Peer, Client: m.Client})
	}
	if _, err := n.rt.Apply(ctx, c); err != nil {
		return nil, err
	}
	n.rt.EnsurePeerLinks()
	return n.rt.NodeStatus(show)
}

func (s *membershipService) GetNodeStatus(ctx context.Context, req *kqpb.NodeStatusRequest) (*kqpb.NodeStatus, error) {
	if !s.n.rt.IsLeader() {
		return nil, status.Error(codes.Unavailable, "not the leader; membership is read on the leader")
	}
	if err := s.n.rt.LinearizableRead(ctx); err != nil {
		return nil, ToStatus(err)
	}
	return s.n.rt.NodeStatus(req.Id)
}

func (s *membershipService) ListMembers(ctx context.Context, _ *kqpb.ListMembersRequest) (*kqpb.ListMembersResponse, error) {
	if !s.n.rt.IsLeader() {
		return nil, status.Error(codes.Unavailable, "not the leader; membership is read on the leader")
	}
	if err := s.n.rt.LinearizableRead(ctx); err != nil {
		return nil, ToStatus(err)
	}
	out := &kqpb.ListMembersResponse{}
	for _, m := range s.n.rt.Members() {
		st, err := s.n.rt.NodeStatus(m.ID)
		if err != nil {
			return nil, err
		}
		st.Keys = nil // per key progress is for GetNodeStatus
		out.Members = append(out.Members, st)
	}
	return out, nil
}

// validAddress reports whether a is a bounded host:port with a port in
// [1, 65535].
func validAddress(a string) bool {
	host, port, err := net.SplitHostPort(a)
	if err != nil || host == "" || len(a) > 255 || strings.ContainsAny(host, " /\t") {
		return false
	}
	p, err := strconv.Atoi(port)
	return err == nil && p >= 1 && p <= 65535
}
