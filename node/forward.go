package node

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/pki"
)

// Metadata a follower adds when it forwards a client call to the leader.
// The leader trusts it only from a caller holding a node certificate.
const (
	mdActor     = "kq-actor"
	mdForwarded = "kq-forwarded"
)

// forward sends a client call to the leader when this node is not the
// leader. forwarded is false when the caller should handle the call itself.
// A call is forwarded at most once, so a stale view of the leader on two
// nodes cannot bounce it back and forth.
func forward[Resp any](ctx context.Context, n *Node, call func(context.Context, kqpb.KeyServiceClient) (*Resp, error)) (resp *Resp, forwarded bool, err error) {
	if n.raft.IsLeader() {
		return nil, false, nil
	}
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get(mdForwarded)) > 0 {
		return nil, true, status.Error(codes.Unavailable, "not the leader (leadership is changing); retry")
	}
	leader, ok := n.leaderConfig()
	if !ok {
		return nil, true, status.Error(codes.Unavailable, errNoLeader.Error())
	}
	actor, err := n.actor(ctx)
	if err != nil {
		return nil, true, err
	}
	conn, err := n.peers.conn(leader.Client)
	if err != nil {
		return nil, true, status.Error(codes.Unavailable, err.Error())
	}
	ctx = metadata.AppendToOutgoingContext(ctx, mdActor, actor, mdForwarded, n.self.ID)
	resp, err = call(ctx, kqpb.NewKeyServiceClient(conn))
	return resp, true, err
}

// leaderConfig returns the addresses of the member this node believes leads.
func (n *Node) leaderConfig() (config.NodeConfig, bool) {
	id, _ := n.raft.Leader()
	if id == "" || id == n.self.ID {
		return config.NodeConfig{}, false
	}
	return n.cluster.Node(id)
}

// actor names who asked for a call: the certificate's identity, or for a
// call forwarded by a member, the identity that member vouched for.
func (n *Node) actor(ctx context.Context) (string, error) {
	id, err := pki.PeerIdentity(ctx)
	if err != nil {
		return "", status.Error(codes.Unauthenticated, err.Error())
	}
	if id.Kind == pki.KindNode {
		if md, _ := metadata.FromIncomingContext(ctx); len(md.Get(mdActor)) == 1 {
			return truncate(md.Get(mdActor)[0], 256), nil
		}
	}
	return id.String(), nil
}

// peerIdentity returns the member id of a PeerService caller, refusing
// anything but a node certificate of this cluster.
func (n *Node) peerIdentity(ctx context.Context) (string, error) {
	id, err := pki.PeerIdentity(ctx)
	if err != nil {
		return "", status.Error(codes.Unauthenticated, err.Error())
	}
	if id.Kind != pki.KindNode || id.Cluster != n.cluster.ID {
		return "", status.Errorf(codes.PermissionDenied, "%s is not a member of this cluster", id)
	}
	if _, ok := n.cluster.Node(id.Name); !ok || id.Name == n.self.ID {
		return "", status.Errorf(codes.PermissionDenied, "%s is not a peer of %s", id, n.self.ID)
	}
	return id.Name, nil
}
