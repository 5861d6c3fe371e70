package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus"
)

// Starting a signing attempt on the committee.
//
// A member starts its part of an attempt when its FSM applies the entry
// that names it. The leader applies first; a follower learns that the entry
// is committed only when raft next carries the commit index to it, with
// the next append or on the CommitTimeout tick. A signature cannot
// progress until every committee member has started, so that wait would
// sit on every request's critical path. Instead, the leader tells the
// committee members directly, as soon as it has applied the entry, which
// attempts the entry started (announceSign); a member checks the claim
// against the entry in its own log and starts at once (signCommitted). A
// member still signs only digests of committed entries of its own log.

// maxAnnouncedAttempts bounds the attempts one announcement may carry: a request
// and its dual-sign companion.
const maxAnnouncedAttempts = 2

// announceWait bounds how long a member waits for an announced entry to
// reach its own log.
const announceWait = 100 * time.Millisecond

// announceTimeout bounds the leader's announcement to one member; a member
// that misses it starts when it applies the entry.
const announceTimeout = 2 * time.Second

// startSign takes part in one signing attempt: binding a parked
// presignature when the attempt names one, else the full protocol.
func (n *Node) startSign(ctx context.Context, s *consensus.Sign) {
	if s.Presig == "" {
		n.spawn(func() { n.runSign(ctx, s) })
	} else if ps := n.parked.take(s.Presig); ps != nil {
		n.spawn(func() { n.signPresigned(ctx, s, ps) })
	} else {
		n.log.Warn("presignature named by a request is not parked here; the leader will retry", "presig", s.Presig, "request", s.RequestID)
	}
}

// startedBy returns the signing attempts the entry at index started that
// this node is in: the request's own and its dual-sign companion's, when
// the entry created that companion.
func (n *Node) startedBy(index uint64, s *consensus.Sign) []*consensus.Sign {
	if s == nil {
		return nil
	}
	var out []*consensus.Sign
	for _, a := range append([]*consensus.Sign{s}, n.companionOf(index, s)...) {
		if slices.Contains(a.Committee, n.self.ID) {
			out = append(out, a)
		}
	}
	return out
}

// attemptKey names one attempt of one request.
func attemptKey(s *consensus.Sign) string { return fmt.Sprintf("%s/%d", s.RequestID, s.Attempt) }

// announceSign tells the other committee members of the attempts the entry
// at index started that the leader has applied it. Best effort, in the
// background: a member that misses it starts when it applies the entry.
func (n *Node) announceSign(index uint64, s *consensus.Sign) {
	var signs [][]byte
	to := map[string]bool{} // the other members of the attempts' committees
	for _, a := range append([]*consensus.Sign{s}, n.companionOf(index, s)...) {
		b, err := json.Marshal(a)
		if err != nil {
			n.log.Error("encode signing attempt", "err", err)
			return
		}
		signs = append(signs, b)
		for _, m := range a.Committee {
			if m != n.self.ID {
				to[m] = true
			}
		}
	}
	msg := &kqpb.CommittedSign{Index: index, Term: n.raft.Term(), Signs: signs}
	for id := range to {
		member, ok := n.cluster.Node(id)
		if !ok {
			continue
		}
		n.spawn(func() {
			conn, err := n.peers.conn(member.Peer)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), announceTimeout)
				defer cancel()
				_, err = kqpb.NewPeerServiceClient(conn).SignCommitted(ctx, msg)
			}
			if err != nil {
				n.log.Debug("sign announcement not taken; the member starts when it applies the entry", "member", id, "index", index, "err", err)
			}
		})
	}
}

// companionOf returns the dual-sign companion the entry at index started
// alongside s, if it did and the companion still runs.
func (n *Node) companionOf(index uint64, s *consensus.Sign) []*consensus.Sign {
	if s.Dual == "" {
		return nil
	}
	if d, ok := n.fsm.Sign(s.Dual); ok && d.State == consensus.SignStatePending && d.SessionIndex == index {
		return []*consensus.Sign{d}
	}
	return nil
}

// signCommitted serves the leader's announcement: it confirms from this
// node's own log that the entry is the request the attempts claim to come
// from, then queues them to start before the entry is applied here.
func (n *Node) signCommitted(ctx context.Context, from string, req *kqpb.CommittedSign) error {
	if len(req.Signs) == 0 || len(req.Signs) > maxAnnouncedAttempts {
		return status.Errorf(codes.InvalidArgument, "announcement carries %d signing attempts; want 1 to %d", len(req.Signs), maxAnnouncedAttempts)
	}
	// The entry may still be on its way here when the leader and the
	// other follower have committed it; beyond announceWait, raft's own
	// commit notice is as quick.
	wctx, cancel := context.WithTimeout(ctx, announceWait)
	defer cancel()
	cmd, err := n.raft.LeaderCommitted(wctx, from, req.Index, req.Term)
	if err != nil {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	entry, ok := cmd.(*consensus.SignRequested)
	if !ok {
		return status.Errorf(codes.InvalidArgument, "entry %d is a %s, not a sign request", req.Index, cmd.Type())
	}
	var mine []*consensus.Sign
	for _, raw := range req.Signs {
		var s consensus.Sign
		if err := json.Unmarshal(raw, &s); err != nil {
			return status.Errorf(codes.InvalidArgument, "signing attempt: %v", err)
		}
		if err := attemptOf(entry, req.Index, &s); err != nil {
			return status.Errorf(codes.InvalidArgument, "entry %d: %v", req.Index, err)
		}
		if slices.Contains(s.Committee, n.self.ID) {
			mine = append(mine, &s)
		}
	}
	if len(mine) > 0 {
		n.events.addAnnounced(req.Index, mine)
	}
	return nil
}

// attemptOf checks that s is a first attempt the entry at index can have
// started: the request itself or its dual-sign companion, with the entry's
// key, digest and committee.
func attemptOf(entry *consensus.SignRequested, index uint64, s *consensus.Sign) error {
	own := s.RequestID == entry.RequestID && s.Parent == "" && s.Presig == entry.Presig
	companion := s.Parent == entry.RequestID && s.RequestID == consensus.DualRequestID(entry.RequestID, s.Version) && s.Presig == ""
	switch {
	case !own && !companion:
		return fmt.Errorf("attempt of request %q is not the entry's", s.RequestID)
	case s.Attempt != 1 || s.SessionIndex != index || s.State != consensus.SignStatePending:
		return fmt.Errorf("request %q: not a first attempt started by this entry", s.RequestID)
	case s.Key != entry.Key || !bytes.Equal(s.Digest, entry.Digest) || !slices.Equal(s.Committee, entry.Committee):
		return fmt.Errorf("request %q: key, digest or committee differ from the entry", s.RequestID)
	case entry.Version != 0 && own && s.Version != entry.Version:
		return fmt.Errorf("request %q: version differs from the entry", s.RequestID)
	}
	return nil
}
