package render

import (
	"fmt"
	"io"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// BlameClearView is the `kq blame clear -o json` contract.
type BlameClearView struct {
	Member  string `json:"member"`
	Cleared bool   `json:"cleared"`
	Note    string `json:"note"`
}

func (v BlameClearView) Table(w io.Writer) error {
	if !v.Cleared {
		_, err := fmt.Fprintf(w, "%s had no accusations on record\n", v.Member)
		return err
	}
	_, err := fmt.Fprintf(w, "cleared %s: %s\n", v.Member, v.Note)
	return err
}

// NodeView is `kq node status -o json` (and add, remove, replace): id and
// state are the contract; the rest extends it.
type NodeView struct {
	ID         string            `json:"id"`
	State      string            `json:"state"`
	Raft       string            `json:"raft"`
	Replaces   string            `json:"replaces,omitempty"`
	ReplacedBy string            `json:"replaced_by,omitempty"`
	Keys       []NodeKeyView     `json:"keys"`
	Addresses  map[string]string `json:"addresses"`
}

// NodeKeyView is how far a node is with one key's shares.
type NodeKeyView struct {
	Key   string `json:"key"`
	State string `json:"state"`
	Note  string `json:"note,omitempty"`
}

// NewNodeView reads a node's status; keys is [] rather than null.
func NewNodeView(s *kqpb.NodeStatus) NodeView {
	v := NodeView{ID: s.GetId(), State: s.GetState(), Raft: s.GetRaft(), Replaces: s.GetReplaces(), ReplacedBy: s.GetReplacedBy(),
		Keys: []NodeKeyView{}, Addresses: map[string]string{"raft": s.GetRaftAddress(), "peer": s.GetPeerAddress(), "client": s.GetClientAddress()}}
	for _, k := range s.GetKeys() {
		v.Keys = append(v.Keys, NodeKeyView{Key: k.GetKey(), State: k.GetState(), Note: k.GetNote()})
	}
	return v
}

func (v NodeView) Table(w io.Writer) error {
	fmt.Fprintf(w, "node %s  %s  (raft: %s)\n", v.ID, v.State, v.Raft)
	if v.Replaces != "" {
		fmt.Fprintf(w, "replaces %s\n", v.Replaces)
	}
	if v.ReplacedBy != "" {
		fmt.Fprintf(w, "replaced by %s\n", v.ReplacedBy)
	}
	if len(v.Keys) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := NewTabWriter(w)
	fmt.Fprintln(tw, "KEY\tSHARES\tNOTE")
	for _, k := range v.Keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Key, k.State, k.Note)
	}
	return tw.Flush()
}
