package entry

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
