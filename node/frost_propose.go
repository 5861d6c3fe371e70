package node

import (
	"context"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/service"
)

// proposeFrost appends a sign request naming FROST commitments
// (frostsign.Work.Propose), with the error as a client sees it.
func (n *Node) proposeFrost(ctx context.Context, k *fsm.Key, cmd *fsm.SignRequested) (ok, dup bool, used []fsm.FrostCommitment, err error) {
	ok, dup, used, err = n.frost.Propose(ctx, k, cmd)
	return ok, dup, used, service.ToStatus(err)
}

// retrySignAvoiding moves an attempt a member spoiled to a committee
// without that member, at once and naming it, or fails the request when
// its attempts are spent or no such committee is reachable.
func (n *Node) retrySignAvoiding(ctx context.Context, p *fsm.Sign, culprit, reason string) {
	k, ok := n.fsm.Key(p.Key)
	if !ok {
		return
	}
	var members []string
	for _, m := range n.raft.Reachable() {
		if k.HasMember(m) && m != culprit {
			members = append(members, m)
		}
	}
	slices.Sort(members)
	members = n.blame.Eligible(members, k.Threshold+1)
	var cmd fsm.Command
	switch {
	case p.Attempt >= uint32(n.cluster.Sign.MaxAttempts):
		cmd = &fsm.SignFailed{RequestID: p.RequestID, Attempt: p.Attempt, Reason: reason}
	case len(members) < k.Threshold+1:
		cmd = &fsm.SignFailed{RequestID: p.RequestID, Attempt: p.Attempt,
			Reason: fmt.Sprintf("%s; too few other members reachable", reason)}
	default:
		cmd = &fsm.SignRetry{RequestID: p.RequestID, Attempt: p.Attempt + 1,
			Committee: n.committees.Retry(members, k.Threshold+1), Reason: reason}
	}
	n.propose(ctx, cmd)
}
