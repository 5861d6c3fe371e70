package render

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// TestNodeStatusJSONContract pins `kq node status -o json`: id and state
// are the contract scripts rely on; keys, raft and addresses extend it.
func TestNodeStatusJSONContract(t *testing.T) {
	v := NewNodeView(&kqpb.NodeStatus{Id: "n4", State: "resharing", Raft: "nonvoter", Replaces: "n3",
		RaftAddress: "h:1", PeerAddress: "h:2", ClientAddress: "h:3",
		Keys: []*kqpb.KeyProgress{{Key: "k", State: "resharing", Note: "1 of 3 confirmed"}}})
	m, keys := jsonKeys(t, v)
	if want := sorted("id", "state", "raft", "replaces", "keys", "addresses"); !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if m["id"] != "n4" || m["state"] != "resharing" {
		t.Fatalf("id/state: %v", m)
	}
	if _, keys := jsonKeys(t, NewNodeView(&kqpb.NodeStatus{Id: "n1", State: "voter"})); !slices.Equal(keys, sorted("id", "state", "raft", "keys", "addresses")) {
		t.Fatalf("no replace: keys %v", keys)
	}
	var buf bytes.Buffer
	if err := v.Table(&buf); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"node n4  resharing  (raft: nonvoter)", "replaces n3", "k    resharing  1 of 3 confirmed"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
}
