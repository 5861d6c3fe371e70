package node

import (
	"maps"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/node/config"
)

// The members this node admits and dials: cluster.yaml's nodes until the
// first membership change, then the replicated membership (consensus
// membership.go), so a node added later is known to every member without
// editing their cluster.yaml, and a removed one is refused. cluster.yaml
// still says how this node reaches an address (Via, for fault injection).

// memberConfig returns member id's addresses, or false when id is no
// member (never was, or removed).
func (n *Node) memberConfig(id string) (config.NodeConfig, bool) {
	ms := n.fsm.Members()
	if ms == nil {
		return n.cluster.Node(id)
	}
	m, ok := ms[id]
	if !ok || m.State == membership.Removed {
		return config.NodeConfig{}, false
	}
	nc := config.NodeConfig{ID: id, Raft: m.Raft, Peer: m.Peer, Client: m.Client}
	if c, ok := n.cluster.Node(id); ok {
		nc.TPMAddress = c.TPMAddress
	}
	return nc, true
}

// isMember reports whether id is a member this node admits.
func (n *Node) isMember(id string) bool {
	_, ok := n.memberConfig(id)
	return ok
}

// holders returns the members a new key is generated among: the
// replicated holder target, or cluster.yaml's nodes before any change.
func (n *Node) holders() []string {
	if t := n.fsm.HolderTarget(); t != nil {
		return t
	}
	return n.cluster.NodeIDs()
}

// memberList returns the members with their replicated state, in id
// order; before any membership change, cluster.yaml's nodes as voters.
func (n *Node) memberList() []membership.Member {
	ms := n.fsm.Members()
	var out []membership.Member
	if ms == nil {
		for _, c := range n.cluster.Nodes {
			out = append(out, membership.Member{ID: c.ID, State: membership.Voter, Raft: c.Raft, Peer: c.Peer, Client: c.Client})
		}
		return out
	}
	for _, id := range slices.Sorted(maps.Keys(ms)) {
		out = append(out, ms[id])
	}
	return out
}

// ensurePeerLinks opens a peer link to every member that has none yet.
func (n *Node) ensurePeerLinks() {
	for _, m := range n.memberList() {
		if m.State != membership.Removed {
			n.peers.Ensure(m.ID, m.Peer)
		}
	}
}

// voters returns the members raft counts votes of (voter, or removing and
// not yet removed), in id order: the members whose clocks bound replicated
// time. A joining member is left out, so adding a node that has not
// started yet does not stall every write.
func (n *Node) voters() []config.NodeConfig {
	var out []config.NodeConfig
	for _, m := range n.memberList() {
		if m.State != membership.Voter && m.State != membership.Removing {
			continue
		}
		if c, ok := n.memberConfig(m.ID); ok {
			out = append(out, c)
		}
	}
	return out
}

// memberIDs returns the ids of every member not removed: all that apply
// the log, joining ones included.
func (n *Node) memberIDs() []string {
	var out []string
	for _, m := range n.memberList() {
		if m.State != membership.Removed {
			out = append(out, m.ID)
		}
	}
	return out
}

// leaderConfig returns the addresses of the member this node believes leads.
func (n *Node) leaderConfig() (config.NodeConfig, bool) {
	id, _ := n.raft.Leader()
	if id == "" || id == n.self.ID {
		return config.NodeConfig{}, false
	}
	return n.memberConfig(id)
}

// absent returns the elements of want missing from have.
func absent(want, have []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}
