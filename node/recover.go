package node

import (
	"context"
	"time"

	"github.com/hashicorp/raft"

	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/auditwork"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/recovery"
)

// ForceNewCluster rewrites node id's raft state, offline, so that members
// alone form the cluster (consensus.ForceNewCluster), for when a majority
// of members is gone for good. Every survivor must run it with the same
// members. It leaves a note that the node, once the recovered cluster
// runs, turns into an audited ClusterRecovered entry (node/recovery).
func ForceNewCluster(cluster *config.Cluster, id string, members []string, now time.Time) (consensus.Recovery, error) {
	return recovery.Force(cluster, id, members, now, func() (raft.FSM, error) {
		// The replay must build the same state, audit chain included,
		// that the member built when it applied these entries.
		f, err := fsm.NewFSM(fsmConfig(cluster), fsmCrypto{})
		if err != nil {
			return nil, err
		}
		_ = auditwork.Enable(f)
		return f, nil
	})
}

// reportRecovered puts a recovery ForceNewCluster left a note of on the
// audit trail.
func (n *Node) reportRecovered(ctx context.Context) error {
	return recovery.Report(ctx, n.dir, n.self.ID, reporter{n}, n.log)
}

// reporter is what recovery.Report asks of this node.
type reporter struct{ n *Node }

func (r reporter) Encode(cmd fsm.Command) ([]byte, error)         { return r.n.encode(cmd) }
func (r reporter) ReportOnce(ctx context.Context, b []byte) error { return r.n.reportOnce(ctx, b) }
