// Package members is who the members are, as a member sees them, and on
// the leader the driving of a membership change: the members this node
// admits and dials (Roster), the leader's steps of a change and the
// reshare of every key to the holder target (Reconciler), and where a
// member's shares stand (Reconciler.NodeStatus). What a change is and
// the condition of each step are the replicated membership's
// (consensus/fsm/membership).
package members

import (
	"maps"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/node/config"
)

// State is the replicated state the package reads: this member's replica.
// *fsm.FSM is one.
type State interface {
	Members() map[string]membership.Member
	HolderTarget() []string
	Keys() []*fsm.Key
	Boot(node string) string
	FormerUnshredded(node string) []string
	PreParamsReady() []string
}

// Roster is the members this node admits and dials: cluster.yaml's nodes
// until the first membership change, then the replicated membership
// (consensus membership.go), so a node added later is known to every
// member without editing their cluster.yaml, and a removed one is
// refused. cluster.yaml still says how this node reaches an address (Via,
// for fault injection).
type Roster struct {
	cluster *config.Cluster
	state   State
}

// NewRoster returns the roster over cluster.yaml and the replica.
func NewRoster(cluster *config.Cluster, state State) *Roster {
	return &Roster{cluster: cluster, state: state}
}

// Config returns member id's addresses, or false when id is no member
// (never was, or removed).
func (r *Roster) Config(id string) (config.NodeConfig, bool) {
	ms := r.state.Members()
	if ms == nil {
		return r.cluster.Node(id)
	}
	m, ok := ms[id]
	if !ok || m.State == membership.Removed {
		return config.NodeConfig{}, false
	}
	nc := config.NodeConfig{ID: id, Raft: m.Raft, Peer: m.Peer, Client: m.Client}
	if c, ok := r.cluster.Node(id); ok {
		nc.TPMAddress = c.TPMAddress
	}
	return nc, true
}

// Admits reports whether id is a member this node admits.
func (r *Roster) Admits(id string) bool {
	_, ok := r.Config(id)
	return ok
}

// Holders returns the members a new key is generated among: the
// replicated holder target, or cluster.yaml's nodes before any change.
func (r *Roster) Holders() []string {
	if t := r.state.HolderTarget(); t != nil {
		return t
	}
	return r.cluster.NodeIDs()
}

// All returns the members with their replicated state, in id order;
// before any membership change, cluster.yaml's nodes as voters.
func (r *Roster) All() []membership.Member {
	ms := r.state.Members()
	var out []membership.Member
	if ms == nil {
		for _, c := range r.cluster.Nodes {
			out = append(out, membership.Member{ID: c.ID, State: membership.Voter, Raft: c.Raft, Peer: c.Peer, Client: c.Client})
		}
		return out
	}
	for _, id := range slices.Sorted(maps.Keys(ms)) {
		out = append(out, ms[id])
	}
	return out
}

// Voters returns the members raft counts votes of (voter, or removing and
// not yet removed), in id order: the members whose clocks bound replicated
// time. A joining member is left out, so adding a node that has not
// started yet does not stall every write.
func (r *Roster) Voters() []config.NodeConfig {
	var out []config.NodeConfig
	for _, m := range r.All() {
		if m.State != membership.Voter && m.State != membership.Removing {
			continue
		}
		if c, ok := r.Config(m.ID); ok {
			out = append(out, c)
		}
	}
	return out
}

// IDs returns the ids of every member not removed: all that apply the
// log, joining ones included.
func (r *Roster) IDs() []string {
	var out []string
	for _, m := range r.All() {
		if m.State != membership.Removed {
			out = append(out, m.ID)
		}
	}
	return out
}

// Absent returns the elements of want missing from have.
func Absent(want, have []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			out = append(out, w)
		}
	}
	return out
}
