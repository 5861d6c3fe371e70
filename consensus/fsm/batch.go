package fsm

import "github.com/hashicorp/raft"

var _ raft.BatchingFSM = (*FSM)(nil)

// ApplyBatch implements raft.BatchingFSM: raft hands over every committed
// entry it has at once instead of one channel send per entry. Entries are
// applied in order with exactly Apply's semantics.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	for i, l := range logs {
		out[i] = f.Apply(l)
	}
	return out
}
