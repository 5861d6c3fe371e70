package node

import (
	"context"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// Starting a signing attempt on the committee.
//
// Every signer enforces the policy itself: a member starts its part of an
// attempt only when its own replica has applied the entry that names it
// and accepted it (handle, version state, floors, idempotency), in the
// state at that entry's index (dispatch in dispatch.go). Raft orders
// entries; it does not validate them, and a compromised leader can append
// any entry. With tss-lib every committee member ends up holding the
// whole signature, so a member that joined on the leader's word alone
// would hand a compromised leader a signature its own replica refuses:
// with t = 1 the threshold would fall to one node. node/bypass keeps that
// former early start, and the leader that exploits it, as kqd_bugs bugs.
//
// A follower learns that an entry committed from the leader's next append.
// So that this is not raft's CommitTimeout tick (50-100 ms when nothing
// else is appended), the leader nudges the followers (a barrier, whose
// append carries the commit index) after every sign entry it applied.

// startSign takes part in one signing attempt: binding a parked
// presignature when the attempt names one, else the full protocol.
func (n *Node) startSign(ctx context.Context, s *fsm.Sign) {
	if s.Presig == "" {
		n.spawn(func() { n.runSign(ctx, s) })
	} else {
		n.presigs.Sign(ctx, s)
	}
}

// startedBy returns the signing attempts the entry at index started that
// this node is in: the request's own and its dual-sign companion's, when
// the entry created that companion.
func (n *Node) startedBy(index uint64, s *fsm.Sign) []*fsm.Sign {
	if s == nil {
		return nil
	}
	var out []*fsm.Sign
	for _, a := range append([]*fsm.Sign{s}, n.companionOf(index, s)...) {
		if slices.Contains(a.Committee, n.self.ID) {
			out = append(out, a)
		}
	}
	return out
}

// companionOf returns the dual-sign companion the entry at index started
// alongside s, if it did and the companion still runs.
func (n *Node) companionOf(index uint64, s *fsm.Sign) []*fsm.Sign {
	if s.Dual == "" {
		return nil
	}
	if d, ok := n.fsm.Sign(s.Dual); ok && d.State == fsm.SignStatePending && d.SessionIndex == index {
		return []*fsm.Sign{d}
	}
	return nil
}
