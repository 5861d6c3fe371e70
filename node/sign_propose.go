package node

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/service"
)

// proposeSign appends a sign request. With a ready presignature in the
// pool it names that one and its committee; if the FSM refuses it (it
// expired, or its members restarted since), the request is appended again
// for the full protocol under a committee the leader can reach. An
// Ed25519 request names FROST commitments when every member of a
// reachable committee has one published; frost returns those the log
// accepted. dup reports a request id the FSM had already seen.
func (n *Node) proposeSign(ctx context.Context, k *fsm.Key, presign bool, cmd *fsm.SignRequested) (dup bool, frost []fsm.FrostCommitment, err error) {
	// The committee is picked from this replica's view of the key; a
	// reshare or membership change applied in between makes the log refuse
	// it. That is no fault of the caller's request: pick again from the
	// key as it is now, a few times.
	for try := 1; ; try++ {
		dup, frost, err = n.proposeSignOnce(ctx, k, presign, cmd)
		if err == nil || try == staleCommitteeTries || status.Code(err) != codes.InvalidArgument {
			return dup, frost, err
		}
		cur, ok := n.fsm.Key(k.Name)
		if !ok || cur.CheckCommittee(cmd.Committee) == nil {
			return dup, frost, err // the committee was not what the log refused
		}
		n.log.Debug("sign committee went stale; picking again", "key", k.Name, "committee", cmd.Committee)
		k = cur
	}
}

// staleCommitteeTries bounds how often a sign request is appended again
// because the key's holders changed under its committee.
const staleCommitteeTries = 3

func (n *Node) proposeSignOnce(ctx context.Context, k *fsm.Key, presign bool, cmd *fsm.SignRequested) (dup bool, frost []fsm.FrostCommitment, err error) {
	cmd.Committee, cmd.Presig, cmd.Frost = nil, "", nil // a stale try's
	if presign && (cmd.Version == 0 || cmd.Version == k.Primary) && n.presigs.Pooled(k) {
		p, release, ok := n.presigs.Choose(k)
		if !ok {
			n.metrics.PresignMiss(k.Name)
		} else {
			defer release()
			cmd.Committee, cmd.Presig = p.Committee, p.ID
			res, err := n.applyResult(ctx, cmd)
			if err == nil && res.Err == nil && !res.Duplicate {
				n.metrics.PresignHit(k.Name)
			}
			if err != nil || !errors.Is(res.Err, fsm.ErrPresigUnavailable) {
				return res.Duplicate, nil, service.ToStatus(errors.Join(err, res.Err))
			}
			n.metrics.PresignRefused(k.Name)
			n.log.Debug("presignature refused; signing with the full protocol", "presig", p.ID, "err", res.Err)
		}
	}
	if presign && n.frost.Signs(k) && n.fsm.Protocol() >= fsm.Since(&fsm.FrostCommitted{}) {
		if ok, dup, used, err := n.proposeFrost(ctx, k, cmd); ok {
			return dup, used, err
		}
	}
	committee, err := n.committees.Pick(k, nil, 0)
	if err != nil {
		return false, nil, service.ToStatus(err)
	}
	cmd.Committee, cmd.Presig, cmd.Frost = committee, "", nil
	res, err := n.apply(ctx, cmd)
	return res.Duplicate, nil, err
}
