package fsm

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
)

// recoveryCommands report a forced recovery of the raft configuration.
func recoveryCommands() []commandSpec {
	return []commandSpec{spec[ClusterRecovered](ProtocolV2)}
}

// TypeClusterRecovered records that a member's raft state was rewritten
// by `kqd recover --force-new-cluster`.
const TypeClusterRecovered CommandType = "cluster_recovered"

// ClusterRecovered is a member's report, once the recovered cluster runs,
// that its raft configuration was forced to Members while it was offline.
// The recovery itself happens outside the log (no quorum could commit
// it); this entry puts it on the audit trail. LastIndex and LastTerm are
// the last entry the member's log held, which the recovery committed.
type ClusterRecovered struct {
	RequestID string   `json:"request_id"`
	Node      string   `json:"node"`
	Members   []string `json:"members"`
	Previous  []string `json:"previous"`
	LastIndex uint64   `json:"last_index"`
	LastTerm  uint64   `json:"last_term"`
	// RecoveredAt is when the operator ran the recovery, by that host's
	// clock (unix nanoseconds); informative only.
	RecoveredAt int64 `json:"recovered_at"`
}

func (ClusterRecovered) Type() CommandType  { return TypeClusterRecovered }
func (c ClusterRecovered) Reporter() string { return c.Node }

// apply brings the replicated membership, once there is one,
// in line with the forced configuration: a member left out of it is
// removed, so no node admits or dials it and no key is reshared to it.
// Before any membership change the members are cluster.yaml's, which the
// operator edits (docs/OPERATIONS.md). The note is the audit record's
// reason. A second survivor's report of the same recovery finds nothing
// left to remove.
func (c *ClusterRecovered) apply(f *FSM, _ uint64) Result {
	removed := f.st.Members.Keep(c.Members, f.st.Time)
	note := fmt.Sprintf("raft configuration forced to %v (was %v) on %s; entries up to %d (term %d) committed by the recovery",
		c.Members, c.Previous, c.Node, c.LastIndex, c.LastTerm)
	if len(removed) > 0 {
		note += fmt.Sprintf("; members %v removed", removed)
	}
	return Result{Note: note}
}

func (c *ClusterRecovered) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Actor, r.RequestID, r.Reason = NodeActor(c.Node), c.RequestID, res.Note
	return []audit.Record{r}
}
