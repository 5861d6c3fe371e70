package node

import (
	"context"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/peer"
	"github.com/keyquorum/keyquorum/node/pki"
	"github.com/keyquorum/keyquorum/node/service"
	"github.com/keyquorum/keyquorum/tss"
)

// peerService is the server side of PeerService.
type peerService struct {
	kqpb.UnimplementedPeerServiceServer
	n *Node
}

// Exchange feeds a peer's round messages to the engine. The sender is the
// member named in the caller's certificate; the engine drops duplicates and
// messages from outside the session's committee. A stream that carries
// nothing for peer.ExchangeIdleTimeout ends: the sender opens another with its
// next message, so an idle or stuck stream holds no server resources.
func (s *peerService) Exchange(stream grpc.BidiStreamingServer[kqpb.RoundMessage, kqpb.ExchangeAck]) error {
	from, err := s.n.peerIdentity(stream.Context())
	if err != nil {
		return err
	}
	msgs, ended := make(chan *kqpb.RoundMessage), make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				ended <- err
				return
			}
			select {
			case msgs <- m:
			case <-stream.Context().Done():
				return // the handler returned
			}
		}
	}()
	idle := time.NewTimer(peer.ExchangeIdleTimeout)
	defer idle.Stop()
	var rejected uint64
	// Rejections are logged at most once a second per stream, with how
	// many were not: a member flooding junk must not buy a log line per
	// message on every peer.
	var lastLogged time.Time
	var unlogged uint64
	for {
		var m *kqpb.RoundMessage
		select {
		case m = <-msgs:
			idle.Reset(peer.ExchangeIdleTimeout)
		case err := <-ended:
			if err == io.EOF {
				return stream.Send(&kqpb.ExchangeAck{Rejected: rejected})
			}
			return err
		case <-idle.C:
			return status.Errorf(codes.DeadlineExceeded, "no round message for %s", peer.ExchangeIdleTimeout)
		}
		var sid tss.SessionID
		if len(m.SessionId) != len(sid) || m.Protocol > fsm.MaxProtocol {
			rejected++
		} else {
			copy(sid[:], m.SessionId)
			err := s.n.engine.Deliver(tss.Message{Session: sid, From: from, To: m.To, Broadcast: m.Broadcast, Payload: m.Payload})
			if err != nil {
				rejected++
				if now := time.Now(); now.Sub(lastLogged) >= time.Second {
					s.n.log.Debug("round message rejected", "from", from, "session", sid, "err", err, "not_logged", unlogged)
					lastLogged, unlogged = now, 0
				} else {
					unlogged++
				}
			}
			if errors.Is(err, tss.ErrPendingFull) {
				// Not acknowledged: the sender writes it again in a
				// second, when the session may have started here.
				continue
			}
		}
		if m.Seq != 0 {
			if err := stream.Send(&kqpb.ExchangeAck{Acked: m.Seq}); err != nil {
				return err
			}
		}
	}
}

// Propose appends a member's report on behalf of the member that did the work.
func (s *peerService) Propose(ctx context.Context, req *kqpb.ProposeRequest) (*kqpb.ProposeResponse, error) {
	from, err := s.n.peerIdentity(ctx)
	if err != nil {
		return nil, err
	}
	idx, err := s.n.proposeReport(ctx, from, req.Command)
	if err != nil {
		return nil, service.ToStatus(err)
	}
	return &kqpb.ProposeResponse{Index: idx}, nil
}

// Clock answers another member's probe of this node's wall clock.
func (s *peerService) Clock(ctx context.Context, _ *kqpb.ClockRequest) (*kqpb.ClockReading, error) {
	if _, err := s.n.peerIdentity(ctx); err != nil {
		return nil, err
	}
	return &kqpb.ClockReading{UnixNano: s.n.clock.Now().UnixNano(), AppliedIndex: s.n.fsm.AppliedIndex(), Boot: s.n.boot}, nil
}

// SignCommitted starts this member's part of signing attempts the leader
// has applied, ahead of raft's next commit notice.
func (s *peerService) SignCommitted(ctx context.Context, req *kqpb.CommittedSign) (*kqpb.CommittedSignAck, error) {
	from, err := s.n.peerIdentity(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.n.bypass.SignCommitted(ctx, from, req); err != nil {
		return nil, err
	}
	return &kqpb.CommittedSignAck{}, nil
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
	if !n.members.Admits(id.Name) || id.Name == n.self.ID {
		return "", status.Errorf(codes.PermissionDenied, "%s is not a peer of %s", id, n.self.ID)
	}
	return id.Name, nil
}
