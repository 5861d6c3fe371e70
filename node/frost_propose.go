package node

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/service"
	"github.com/keyquorum/keyquorum/tss"
)

// frostable reports whether a request for the key may sign with FROST.
func (n *Node) frostable(k *fsm.Key) bool {
	return n.frostOn() && k.Algorithm == tss.Ed25519.String()
}

// proposeFrost appends a sign request that names one published commitment
// per member of a committee the leader can reach, and returns the
// commitments the log accepted. ok is false when no committee has
// commitments, or the FSM refused the ones named (a member restarted, a
// refresh landed): the caller then asks for the request again without
// commitments, on the tss-lib path, so signing never waits for a pool.
func (n *Node) proposeFrost(ctx context.Context, k *fsm.Key, cmd *fsm.SignRequested) (ok, dup bool, used []fsm.FrostCommitment, err error) {
	version := cmd.Version
	if version == 0 {
		version = k.Primary
	}
	v := k.Version(version)
	if v == nil || k.SignVersion(version) != nil {
		return false, false, nil, nil
	}
	byNode := map[string][]string{}
	for _, cm := range n.fsm.FrostCommitments(k.Name, version, v.Epoch) {
		byNode[cm.Node] = append(byNode[cm.Node], cm.ID)
	}
	var ready []string
	for _, m := range n.raft.Reachable() {
		if k.HasMember(m) && len(byNode[m]) > 0 {
			ready = append(ready, m)
		}
	}
	slices.Sort(ready)
	size := k.Threshold + 1
	// A member the blame rule excludes signs in no committee while others
	// can (as pickCommittee does for the other paths).
	ready = n.eligible(ready, size)
	if len(ready) < size {
		return false, false, nil, nil
	}
	combos := combinations(ready, size)
	committee := combos[int(n.super.next()%uint64(len(combos)))]
	ids := make([]string, 0, size)
	defer func() {
		for _, id := range ids {
			n.frost.reserved.release(id)
		}
	}()
	for _, m := range committee {
		reserved := false
		for _, id := range byNode[m] {
			if n.frost.reserved.reserve(id) {
				ids, reserved = append(ids, id), true
				break
			}
		}
		if !reserved {
			return false, false, nil, nil // all taken by requests in flight
		}
	}
	cmd.Committee, cmd.Frost = committee, slices.Clone(ids)
	res, err := n.applyResult(ctx, cmd)
	if err == nil && errors.Is(res.Err, fsm.ErrFrostUnavailable) {
		n.log.Debug("FROST commitments refused; signing with tss-lib", "request", cmd.RequestID, "err", res.Err)
		cmd.Frost = nil
		return false, false, nil, nil
	}
	if err == nil && res.Err == nil && !res.Duplicate && res.Sign != nil {
		used = res.Sign.Frost
	}
	return true, res.Duplicate, used, service.ToStatus(errors.Join(err, res.Err))
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
	members = n.eligible(members, k.Threshold+1)
	var cmd fsm.Command
	switch {
	case p.Attempt >= uint32(n.cluster.Sign.MaxAttempts):
		cmd = &fsm.SignFailed{RequestID: p.RequestID, Attempt: p.Attempt, Reason: reason}
	case len(members) < k.Threshold+1:
		cmd = &fsm.SignFailed{RequestID: p.RequestID, Attempt: p.Attempt,
			Reason: fmt.Sprintf("%s; too few other members reachable", reason)}
	default:
		combos := combinations(members, k.Threshold+1)
		cmd = &fsm.SignRetry{RequestID: p.RequestID, Attempt: p.Attempt + 1,
			Committee: combos[int(n.super.nextRetry()%uint64(len(combos)))], Reason: reason}
	}
	n.propose(ctx, cmd)
}
