package node_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/node/nodetest"
)

// scenarioCluster is what the scenario helpers use of a cluster. Real kqd
// processes (jepsen/cluster) and the in-process cluster (nodetest) both
// serve it, so a scenario runs on whichever shows what it tests: most run
// in process; kill -9, restarts from disk, the CLI contract and the secret
// scan of a TPM-sealed data dir need processes.
type scenarioCluster interface {
	IDs() []string
	DataDir() string
	Client(id string) (kqpb.KeyServiceClient, error)
	Operator(id string) (kqpb.OperatorServiceClient, error)
	Audit(id string) (kqpb.AuditServiceClient, error)
	ClientAs(as, to string) (*grpc.ClientConn, error)
	PeerClient(as, to string) (kqpb.PeerServiceClient, *grpc.ClientConn, error)
	Scrape(ctx context.Context, id string) (string, error)
}

var (
	_ scenarioCluster = (*cluster.Cluster)(nil)
	_ scenarioCluster = (*nodetest.Cluster)(nil)
)

// startInProcess starts a 3-member in-process cluster; extra is appended
// to its cluster.yaml.
func startInProcess(t *testing.T, extra string) *nodetest.Cluster {
	t.Helper()
	return nodetest.Start(t, nodetest.Options{ExtraConfig: extra})
}
