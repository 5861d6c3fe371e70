package node

import (
	"context"
	"net"
	"slices"
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
// reconciler (membership.go) does the rest, and GetNodeStatus shows where
// it stands. Who may is decided by the entry (cluster-admin).

func (s *membershipService) AddNode(ctx context.Context, req *kqpb.AddNodeRequest) (*kqpb.NodeStatus, error) {
	m, err := newMemberOf(req)
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
	m, err := newMemberOf(req.With)
	if err != nil {
		return nil, err
	}
	return s.change(ctx, &fsm.ChangeMembers{Op: membership.Replace, Node: req.Id, New: m}, m.ID)
}

// newMemberOf checks a new node's id and addresses.
func newMemberOf(req *kqpb.AddNodeRequest) (*membership.Member, error) {
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
	if !n.raft.IsLeader() {
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
	if _, err := n.apply(ctx, c); err != nil {
		return nil, err
	}
	n.ensurePeerLinks()
	return n.nodeStatus(show)
}

func (s *membershipService) GetNodeStatus(ctx context.Context, req *kqpb.NodeStatusRequest) (*kqpb.NodeStatus, error) {
	if !s.n.raft.IsLeader() {
		return nil, status.Error(codes.Unavailable, "not the leader; membership is read on the leader")
	}
	if err := s.n.raft.LinearizableRead(ctx); err != nil {
		return nil, toStatus(err)
	}
	return s.n.nodeStatus(req.Id)
}

func (s *membershipService) ListMembers(ctx context.Context, _ *kqpb.ListMembersRequest) (*kqpb.ListMembersResponse, error) {
	if !s.n.raft.IsLeader() {
		return nil, status.Error(codes.Unavailable, "not the leader; membership is read on the leader")
	}
	if err := s.n.raft.LinearizableRead(ctx); err != nil {
		return nil, toStatus(err)
	}
	out := &kqpb.ListMembersResponse{}
	for _, m := range s.n.memberList() {
		st, err := s.n.nodeStatus(m.ID)
		if err != nil {
			return nil, err
		}
		st.Keys = nil // per key progress is for GetNodeStatus
		out.Members = append(out.Members, st)
	}
	return out, nil
}

// nodeStatus shows a member and, per key, where its shares stand.
func (n *Node) nodeStatus(id string) (*kqpb.NodeStatus, error) {
	i := slices.IndexFunc(n.memberList(), func(m membership.Member) bool { return m.ID == id })
	if i < 0 {
		return nil, status.Errorf(codes.NotFound, "%.64q is not a member", id)
	}
	m := n.memberList()[i]
	out := &kqpb.NodeStatus{Id: m.ID, State: string(m.State), RaftAddress: m.Raft, PeerAddress: m.Peer, ClientAddress: m.Client,
		Replaces: m.Replaces, ReplacedBy: m.ReplacedBy, Raft: n.raft.SuffrageOf(m.ID)}
	target := n.holders()
	reachable := n.raft.Reachable()
	for _, k := range n.fsm.Keys() {
		if fsm.IsAuditKey(k.Name) && !k.HasMember(id) && !slices.Contains(target, id) {
			continue
		}
		p := &kqpb.KeyProgress{Key: k.Name}
		switch busy, why := n.keyProgress(k, target, reachable); {
		case k.HasMember(id) && (target == nil || slices.Contains(target, id) || why == "held"):
			p.State = "held"
		case busy:
			p.State, p.Note = "resharing", why
		case k.WasHolder(id) && !k.Unshredded(id):
			p.State = "shredded"
		case k.WasHolder(id):
			p.State, p.Note = "left", "its shares are useless: the key was reshared without it; not yet reported shredded"
		case !keyNeedsHolders(k):
			continue
		default:
			p.State, p.Note = "pending", why
		}
		out.Keys = append(out.Keys, p)
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
