package service

import (
	"context"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/policy"
	"github.com/keyquorum/keyquorum/node/pki"
)

// Metadata a follower adds when it forwards a client call to the leader.
// The leader trusts it only from a caller holding a node certificate.
const (
	mdActor     = "kq-actor"
	mdForwarded = "kq-forwarded"
	// mdActorSerial is the serial of the client certificate the forwarded
	// call came with, for the deny-list by certificate serial.
	mdActorSerial = "kq-actor-serial"
)

// leaderWait bounds how long a follower waits for a leader it can reach
// before it answers UNAVAILABLE: long enough to ride out an election after
// the leader died, short enough that a cluster without a quorum fails fast.
const leaderWait = 5 * time.Second

// errNotLeaderNow is what a node answers a forwarded call when it is no
// longer the leader; the forwarder retries with the new one.
const errNotLeaderNow = "not the leader (leadership is changing); retry"

// forward sends a client call to the leader when this node is not the
// leader. forwarded is false when the caller should handle the call itself.
// A call is forwarded at most one hop, so a stale view of the leader on two
// nodes cannot bounce it back and forth. When the leader is unknown or
// unreachable (it just died, an election is running) the forwarder waits
// up to leaderWait for one it can reach: every KeyService call is a read or
// carries a request id, and a call that never reached a leader is safe to
// send again.
func forward[Resp any](ctx context.Context, n *core, call func(context.Context, kqpb.KeyServiceClient) (*Resp, error)) (resp *Resp, forwarded bool, err error) {
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get(mdForwarded)) > 0 {
		if n.rt.IsLeader() {
			return nil, false, nil
		}
		return nil, true, status.Error(codes.Unavailable, errNotLeaderNow)
	}
	actor, err := n.actor(ctx)
	if err != nil {
		return nil, true, err
	}
	fctx := metadata.AppendToOutgoingContext(ctx, mdActor, actor, mdForwarded, n.self)
	if serial := n.actorSerial(ctx); serial != "" {
		fctx = metadata.AppendToOutgoingContext(fctx, mdActorSerial, serial)
	}
	giveUp := time.Now().Add(leaderWait)
	for {
		if n.rt.IsLeader() {
			return nil, false, nil
		}
		err = status.Error(codes.Unavailable, ErrNoLeader.Error())
		if leader, ok := n.rt.Leader(); ok {
			var conn *grpc.ClientConn
			if conn, err = n.rt.Conn(leader.Client); err == nil {
				resp, err = call(fctx, kqpb.NewKeyServiceClient(conn))
				if !neverReachedLeader(err) {
					markForwarded(ctx)
					return resp, true, err
				}
			}
		}
		if time.Now().After(giveUp) || ctx.Err() != nil {
			return nil, true, status.Errorf(codes.Unavailable, "no reachable leader after %s: %v", leaderWait, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// neverReachedLeader reports whether a forwarded call failed before any
// leader acted on it: the connection failed, or the callee was no longer
// the leader.
func neverReachedLeader(err error) bool {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable {
		return false
	}
	return strings.HasPrefix(st.Message(), "connection error") || st.Message() == errNotLeaderNow
}

// actor names who asked for a call: the certificate's identity, or for a
// call forwarded by a member, the identity that member vouched for.
//
// A node certificate never acts as a client in its own name: it may only
// forward a client's call, vouching for that client's identity. A member's
// stolen key can then do no more through the client port than a member
// already can (forward what it claims clients asked), and nothing that
// reads as the cluster's own work in the audit trail.
//
// A call made with a certificate whose serial is on the deny-list is
// refused here, by this replica's policy, before anything is read or
// forwarded; the log decides again at the entry's index, from the serial
// the entry carries, so a call that passed a lagging replica is still
// refused by every replica alike.
func (n *core) actor(ctx context.Context) (string, error) {
	actor, err := n.identity(ctx)
	if err != nil {
		return "", err
	}
	if serial := n.actorSerial(ctx); serial != "" && n.fsm.SerialDenied(serial) {
		return "", status.Errorf(codes.PermissionDenied, "%s: %v (%s): certificate serial %s is on the deny-list",
			actor, policy.ErrPermissionDenied, policy.ReasonSerialDenied, serial)
	}
	return actor, nil
}

// identity is actor without the deny-list: who the call names, for
// records of refusals too.
func (n *core) identity(ctx context.Context) (string, error) {
	id, err := pki.PeerIdentity(ctx)
	if err != nil {
		return "", status.Error(codes.Unauthenticated, err.Error())
	}
	if id.Kind == pki.KindNode {
		md, _ := metadata.FromIncomingContext(ctx)
		if len(md.Get(mdActor)) != 1 || len(md.Get(mdForwarded)) != 1 {
			return "", status.Errorf(codes.PermissionDenied, "%s is a node certificate: nodes only forward clients' calls", id)
		}
		actor := md.Get(mdActor)[0]
		if c, err := pki.ParseIdentity(actor); err != nil || c.Kind == pki.KindNode {
			return "", status.Errorf(codes.PermissionDenied, "forwarded call from %s names no client identity", id)
		}
		return truncate(actor, 256), nil
	}
	return id.String(), nil
}

// actorSerial returns the serial of the client certificate a call came
// with: the caller's own, or for a call a member forwarded, the serial it
// vouched for with the actor (actor checks that the caller is a member).
// "" when there is none to name; the FSM then judges by principal alone.
func (n *core) actorSerial(ctx context.Context) string {
	id, err := pki.PeerIdentity(ctx)
	if err != nil {
		return ""
	}
	if id.Kind != pki.KindNode {
		return pki.PeerSerial(ctx)
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(mdActorSerial); len(v) == 1 {
		if s, err := policy.CanonicalSerial(v[0]); err == nil && s == v[0] {
			return s
		}
	}
	return ""
}
