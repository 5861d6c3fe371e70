package members

import (
	"slices"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/node/config"
)

// replica is a State of fixed members.
type replica struct{ members map[string]membership.Member }

func (r replica) Members() map[string]membership.Member { return r.members }
func (r replica) HolderTarget() []string                { return nil }
func (r replica) Keys() []*fsm.Key                      { return nil }
func (r replica) Boot(string) string                    { return "" }
func (r replica) FormerUnshredded(string) []string      { return nil }
func (r replica) PreParamsReady() []string              { return nil }

// TestRosterIsClusterYAMLUntilTheFirstChange: before any membership
// change the members are cluster.yaml's nodes, all voters; after one, the
// replicated membership, where a removed member is refused, a joining one
// applies the log without a vote, and cluster.yaml only adds how to reach
// an address.
func TestRosterIsClusterYAMLUntilTheFirstChange(t *testing.T) {
	cluster := &config.Cluster{Nodes: []config.NodeConfig{{ID: "n2", Peer: "p2"}, {ID: "n1", Peer: "p1", TPMAddress: "tpm1"}}}
	r := NewRoster(cluster, replica{})
	if got := r.IDs(); !slices.Equal(got, []string{"n2", "n1"}) || len(r.Voters()) != 2 || !r.Admits("n1") || r.Admits("n9") {
		t.Fatalf("before any change: ids %v, %d voters", got, len(r.Voters()))
	}

	r = NewRoster(cluster, replica{members: map[string]membership.Member{
		"n1": {ID: "n1", State: membership.Voter, Peer: "q1"},
		"n2": {ID: "n2", State: membership.Removed},
		"n3": {ID: "n3", State: membership.Joining, Peer: "q3"},
	}})
	if r.Admits("n2") || !r.Admits("n3") {
		t.Fatal("a removed member must be refused and a joining one admitted")
	}
	if got := r.IDs(); !slices.Equal(got, []string{"n1", "n3"}) {
		t.Fatalf("ids = %v, want [n1 n3]", got)
	}
	if v := r.Voters(); len(v) != 1 || v[0].ID != "n1" || v[0].Peer != "q1" || v[0].TPMAddress != "tpm1" {
		t.Fatalf("voters = %+v, want n1 at q1 with cluster.yaml's TPM address", v)
	}
	if got := Absent([]string{"n1", "n2", "n3"}, []string{"n2"}); !slices.Equal(got, []string{"n1", "n3"}) {
		t.Fatalf("Absent = %v", got)
	}
}
