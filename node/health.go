package node

import (
	"context"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// healthEvery is how often the per-service health statuses are refreshed.
const healthEvery = time.Second

// The client port's services by what their health status follows. Local
// services answer from this node's own state, so they serve while it runs.
// Replicated ones write through the leader (this node forwards), so they
// serve while this node knows one: a load balancer or grpc-health-probe
// checking keyquorum.v1.KeyService skips a node cut off from the quorum,
// while "" (the whole server) stays SERVING as long as the process is up.
var (
	localServices      = []string{kqpb.OperatorService_ServiceDesc.ServiceName, kqpb.AuditService_ServiceDesc.ServiceName}
	replicatedServices = []string{kqpb.KeyService_ServiceDesc.ServiceName, kqpb.PolicyService_ServiceDesc.ServiceName,
		kqpb.MembershipService_ServiceDesc.ServiceName, kqpb.BackupService_ServiceDesc.ServiceName,
		kqpb.CeremonyService_ServiceDesc.ServiceName}
)

// runHealth keeps the per-service health statuses true until ctx ends.
func (n *Node) runHealth(ctx context.Context) {
	for _, s := range localServices {
		n.health.SetServingStatus(s, healthpb.HealthCheckResponse_SERVING)
	}
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if leader, _ := n.raft.Leader(); leader != "" {
			st = healthpb.HealthCheckResponse_SERVING
		}
		for _, s := range replicatedServices {
			n.health.SetServingStatus(s, st)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
