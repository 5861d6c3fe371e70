package clusterstatus

import (
	"testing"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

func TestPickLeader(t *testing.T) {
	got := pickLeader([]*kqpb.StatusResponse{
		{NodeId: "n1", State: "leader", Term: 2},
		{NodeId: "n2", State: "leader", Term: 3},
		nil,
	})
	if got != "n2" {
		t.Errorf("two claimants: got %q, want the higher term n2", got)
	}
	got = pickLeader([]*kqpb.StatusResponse{
		{NodeId: "n1", State: "follower", LeaderId: "n3"},
		{NodeId: "n2", State: "follower", LeaderId: "n3"},
		nil,
	})
	if got != "n3" {
		t.Errorf("followers agree: got %q", got)
	}
	if got := pickLeader([]*kqpb.StatusResponse{nil, {State: "candidate"}}); got != "" {
		t.Errorf("no leader: got %q", got)
	}
}
