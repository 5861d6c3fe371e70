package node

import (
	"context"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/service"
)

// proposal is an entry this leader proposed, as its own replica applied it.
type proposal struct {
	cmd   fsm.Command
	index uint64
	// result is the state machine's answer; a refusal is result.Err.
	result fsm.Result
}

// proposedHook is work that must follow every entry this leader proposes,
// once its own replica applied it. The hooks are registered in New
// (Node.proposed); each decides for itself which entries concern it.
type proposedHook func(ctx context.Context, p proposal)

// applyResult proposes a leader command and runs the proposed hooks; err is
// a raft error, and a refusal by the state machine is in the Result.
func (n *Node) applyResult(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	r, index, err := n.proposeEntry(ctx, cmd)
	if err != nil {
		return fsm.Result{}, err
	}
	for _, h := range n.proposed {
		h(ctx, proposal{cmd: cmd, index: index, result: r})
	}
	return r, nil
}

// apply proposes a leader command and returns its replicated result, with
// a refused command as a gRPC status.
func (n *Node) apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	r, err := n.applyResult(ctx, cmd)
	if err != nil {
		return fsm.Result{}, service.ToStatus(err)
	}
	return r, service.ToStatus(r.Err)
}

// propose is applyResult for background work, logging rather than
// returning errors: the work tries again on its next tick if the state
// still needs it.
func (n *Node) propose(ctx context.Context, cmd fsm.Command) {
	if _, err := n.applyResult(ctx, cmd); err != nil {
		n.log.Warn("propose", "type", cmd.Type(), "err", err)
	}
}

// proposeEntry stamps cmd with replicated time, encodes it at the active
// protocol version, appends it and waits for this replica to apply it.
// Every leader proposal passes here; only applyResult runs the hooks.
func (n *Node) proposeEntry(ctx context.Context, cmd fsm.Command) (fsm.Result, uint64, error) {
	if err := n.clocks.Stamp(ctx, cmd); err != nil {
		return fsm.Result{}, 0, err
	}
	data, err := n.encode(cmd)
	if err != nil {
		return fsm.Result{}, 0, err
	}
	res, index, err := n.raft.Apply(ctx, data)
	if err != nil {
		return fsm.Result{}, 0, err
	}
	r, _ := res.(fsm.Result)
	return r, index, nil
}

// wakeMembers is the proposed hook that tells the followers at once about
// an entry members among them must act on: otherwise they learn of it only
// on raft's next CommitTimeout tick (50-100 ms when nothing else is
// appended). They get a barrier, whose append carries the commit index:
// committee members start their part of a signature only once their own
// replica applied and accepted its entry (sign_start.go).
func (n *Node) wakeMembers(_ context.Context, p proposal) {
	if _, ok := p.cmd.(*fsm.SignRequested); ok && (p.result.Sign == nil || p.result.Err != nil || p.result.Duplicate) {
		return // nothing for the committee to start
	}
	switch p.cmd.(type) {
	case *fsm.CreateKey, *fsm.SignRequested, *fsm.SignRetry, *fsm.PresignRequested,
		*fsm.ChangeKey, *fsm.DestroyDue:
		n.raft.Nudge()
	}
}

// markApplied is the proposed hook that tells the services' interceptor
// that the call in ctx appended an entry, whose audit record then holds
// any refusal.
func markApplied(ctx context.Context, _ proposal) { service.MarkApplied(ctx) }
