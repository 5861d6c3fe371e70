package node_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/node/nodetest"
	"github.com/keyquorum/keyquorum/node/pki"
)

// TestHealthPerServiceAndReflection checks the client port's
// grpc.health.v1 statuses by service name, as grpc-health-probe and load
// balancers read them, for a caller that is not the admin; that the
// replicated services stop serving on a member cut off from the quorum
// while the local ones and the server go on; and that server reflection
// lists the services only when switched on.
func TestHealthPerServiceAndReflection(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{Reflection: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := pki.IssuePrincipal(c.Config().CertsDir(), c.Config(), "probe", time.Hour); err != nil {
		t.Fatal(err)
	}
	conn, err := c.ClientAs("probe", "n1")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	waitFor := func(service string, want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for {
			r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
			if err == nil && r.GetStatus() == want {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%q: %v, %v; want %v", service, r.GetStatus(), err, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	all := []string{"", "keyquorum.v1.KeyService", "keyquorum.v1.PolicyService", "keyquorum.v1.MembershipService",
		"keyquorum.v1.BackupService", "keyquorum.v1.OperatorService", "keyquorum.v1.AuditService"}
	for _, s := range all {
		waitFor(s, healthpb.HealthCheckResponse_SERVING)
	}
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "keyquorum.v1.NoSuchService"}); status.Code(err) != codes.NotFound {
		t.Errorf("unknown service: %v, want NotFound", err)
	}

	services := listServices(ctx, t, c, "n1")
	for _, s := range append(all[1:], "grpc.health.v1.Health") {
		if !slices.Contains(services, s) {
			t.Errorf("reflection lists %v, without %s", services, s)
		}
	}
	if slices.Contains(services, "keyquorum.v1.PeerService") {
		t.Errorf("the client port's reflection lists the peer service: %v", services)
	}

	// n1 alone knows no leader: writes cannot go through it.
	c.StopNode("n2")
	c.StopNode("n3")
	waitFor("keyquorum.v1.KeyService", healthpb.HealthCheckResponse_NOT_SERVING)
	waitFor("keyquorum.v1.PolicyService", healthpb.HealthCheckResponse_NOT_SERVING)
	for _, s := range []string{"", "keyquorum.v1.OperatorService", "keyquorum.v1.AuditService"} {
		waitFor(s, healthpb.HealthCheckResponse_SERVING)
	}
	if err := c.StartNode("n2"); err != nil {
		t.Fatal(err)
	}
	waitFor("keyquorum.v1.KeyService", healthpb.HealthCheckResponse_SERVING)

	// Without the option there is no reflection service.
	off := nodetest.Start(t, nodetest.Options{Nodes: 2})
	offConn, err := off.Conn("n1")
	if err != nil {
		t.Fatal(err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(offConn).ServerReflectionInfo(ctx)
	if err == nil {
		err = stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
		if err == nil {
			_, err = stream.Recv()
		}
	}
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("reflection without the option: %v, want Unimplemented", err)
	}
}

// listServices asks member id's reflection service for the services it
// serves.
func listServices(ctx context.Context, t *testing.T, c *nodetest.Cluster, id string) []string {
	t.Helper()
	conn, err := c.Conn(id)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	r, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range r.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names
}
