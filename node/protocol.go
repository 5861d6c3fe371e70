package node

import (
	"context"
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// Protocol versions on the node's side (consensus/fsm/protocol.go has the
// rules): every entry this node proposes or reports is written under the
// cluster's active version, the leader raises that version once every
// member runs a build that supports a newer one, and a replica that meets
// an entry it cannot interpret stops the node.

// encode serialises cmd under the cluster's active protocol version:
// ErrProtocolNotActive when the command is newer than that.
func (n *Node) encode(cmd fsm.Command) ([]byte, error) {
	data, err := fsm.EncodeAt(cmd, n.fsm.Protocol())
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	return data, nil
}

// maybeRaiseProtocol runs on the leader's supervisor tick: when every
// member of the configuration has reported a build that supports a newer
// protocol than the active one, it appends the raise. From that entry on,
// a replica with an older build stops at it (a downgrade is refused), so
// this is the point of no return of an upgrade (docs/OPERATIONS.md). Once
// the policy lists operators it is theirs: a protocol-upgrade ceremony.
func (s *supervisor) maybeRaiseProtocol(ctx context.Context) {
	members := s.n.members.IDs()
	v := s.n.fsm.ProtocolToRaise(members)
	if v == 0 {
		return
	}
	if st, _ := s.n.fsm.PolicyInForce(); st.Policy.HasOperators() {
		// Operators pass the point of no return: a protocol-upgrade
		// ceremony raises it (the FSM refuses this raise).
		if s.heldProtocol.Swap(v) != v {
			s.n.log.Info("every member supports a newer protocol; the policy lists operators, so a protocol-upgrade ceremony raises it",
				"from", s.n.fsm.Protocol(), "to", v)
		}
		return
	}
	if !s.raising.CompareAndSwap(false, true) {
		return
	}
	s.n.log.Info("every member supports a newer protocol; raising the active version", "from", s.n.fsm.Protocol(), "to", v)
	s.n.spawn(func() {
		defer s.raising.Store(false)
		s.n.propose(ctx, &fsm.RaiseProtocol{Version: v, Members: members})
	})
}

// halted is the FSM's halt handler: the log holds an entry this build
// cannot interpret. The node stops (Run returns the error) rather than run
// on a state that no longer matches the other replicas'.
func (n *Node) halted(err error) {
	n.log.Error("stopping: this replica cannot apply the replicated log; run a build that supports it", "err", err)
	select {
	case n.fatal <- err:
	default:
	}
}
