package node_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

const quotaE2EPolicy = `
tenants: [acme, globex]
principals:
  alice: {roles: [{role: key-admin, tenant: acme}, {role: issuer, tenant: acme}, {role: key-admin, tenant: globex}, {role: issuer, tenant: globex}]}
  bob:   {roles: [{role: signer, tenant: acme}]}
  mal:   {roles: [{role: signer, tenant: globex}]}
quotas: {globex: {sign_per_second: 2, sessions: 2}}
`

// TestFloodingTenantDoesNotBlockAnother runs on real processes: a signer
// of globex floods it far above its sign_per_second and sessions quotas
// and is answered RESOURCE_EXHAUSTED naming the quota with a retry hint,
// while every sign of acme's signer, made meanwhile, succeeds.
func TestFloodingTenantDoesNotBlockAnother(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	q := startQuotaCluster(ctx, t)
	bob, mal, hA, hG := q.bob, q.mal, q.hA, q.hG

	var (
		stop                    atomic.Bool
		flooded, limited, other atomic.Int64
		hint                    atomic.Value // one refusal's details
		wg                      sync.WaitGroup
	)
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load() && ctx.Err() == nil; i++ {
				d := sha256.Sum256(fmt.Appendf(nil, "flood %d %d", g, i))
				_, err := mal.Sign(ctx, &kqpb.SignRequest{Handle: hG, Digest: d[:], RequestId: fmt.Sprintf("flood-%d-%d", g, i)})
				flooded.Add(1)
				switch status.Code(err) {
				case codes.OK:
				case codes.ResourceExhausted:
					limited.Add(1)
					hint.Store(status.Convert(err))
				default:
					other.Add(1)
				}
			}
		}()
	}
	for i := range 10 {
		d := sha256.Sum256(fmt.Appendf(nil, "acme %d", i))
		cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
		_, err := bob.Sign(cctx, &kqpb.SignRequest{Handle: hA, Digest: d[:], RequestId: fmt.Sprintf("acme-%d", i)})
		ccancel()
		if err != nil {
			t.Errorf("acme's sign %d while globex floods: %v", i, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("globex flood: %d requests, %d RESOURCE_EXHAUSTED, %d other errors", flooded.Load(), limited.Load(), other.Load())
	if limited.Load() == 0 {
		t.Fatal("no flood request was refused by globex's quotas")
	}
	s := hint.Load().(*status.Status)
	var qf *errdetails.QuotaFailure
	var retry *errdetails.RetryInfo
	for _, d := range s.Details() {
		switch d := d.(type) {
		case *errdetails.QuotaFailure:
			qf = d
		case *errdetails.RetryInfo:
			retry = d
		}
	}
	if qf == nil || qf.Violations[0].Subject != "tenant:globex" || retry == nil || retry.RetryDelay.AsDuration() <= 0 {
		t.Errorf("refusal %q: quota %v, retry %v; want globex's quota named and a retry delay", s.Message(), qf, retry)
	}
}

// quotaCluster is a cluster under quotaE2EPolicy: bob signs acme's key
// with handle hA, mal signs globex's with hG.
type quotaCluster struct {
	c        *cluster.Cluster
	bob, mal kqpb.KeyServiceClient
	hA, hG   string
}

func startQuotaCluster(ctx context.Context, t *testing.T) quotaCluster {
	t.Helper()
	c := startCluster(t, "simulator")
	for _, p := range []string{"alice", "bob", "mal"} {
		if out, err := c.KQ(ctx, "certs", "issue", "--principal", p); err != nil {
			t.Fatalf("certs issue %s: %v %s", p, err, out)
		}
	}
	leader := leaderOf(ctx, t, c)
	as := func(who string) kqpb.KeyServiceClient {
		conn, err := c.ClientAs(who, leader)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return kqpb.NewKeyServiceClient(conn)
	}
	applyPolicy(ctx, t, c, leader, quotaE2EPolicy)
	alice := as("alice")
	createKey(ctx, t, alice, "acme/k", kqpb.Algorithm_ED25519)
	createKey(ctx, t, alice, "globex/k", kqpb.Algorithm_ED25519)
	return quotaCluster{c: c, bob: as("bob"), mal: as("mal"),
		hA: issueHandle(ctx, t, alice, &kqpb.IssueHandleRequest{Key: "acme/k", RequestId: "h-acme", TtlMs: 600_000}),
		hG: issueHandle(ctx, t, alice, &kqpb.IssueHandleRequest{Key: "globex/k", RequestId: "h-globex", TtlMs: 600_000})}
}

// applyPolicy applies doc as the bootstrap admin, waiting for the
// protocol version that has policies (a fresh cluster raises it a few
// seconds after start).
func applyPolicy(ctx context.Context, t *testing.T, c *cluster.Cluster, leader, doc string) {
	t.Helper()
	conn, err := c.ClientAs("client", leader)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pol := kqpb.NewPolicyServiceClient(conn)
	for {
		_, err := pol.ApplyPolicy(ctx, &kqpb.ApplyPolicyRequest{Document: []byte(doc)})
		if err == nil {
			return
		}
		if ctx.Err() != nil || status.Code(err) == codes.Unimplemented || status.Code(err) == codes.InvalidArgument {
			t.Fatalf("apply policy: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
