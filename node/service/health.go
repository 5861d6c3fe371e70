package service

import (
	"context"
	"slices"
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

func allServices() []string { return slices.Concat(localServices, replicatedServices) }

// RunHealth keeps the per-service health statuses true until ctx ends.
func (s *Services) RunHealth(ctx context.Context) {
	for _, name := range localServices {
		s.Health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	t := time.NewTicker(healthEvery)
	defer t.Stop()
	for {
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if s.n.rt.LeaderKnown() {
			st = healthpb.HealthCheckResponse_SERVING
		}
		for _, name := range replicatedServices {
			s.Health.SetServingStatus(name, st)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
