package service

import (
	"context"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/inforce"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/fsm/settings"
	"github.com/keyquorum/keyquorum/consensus/policy"
	"github.com/keyquorum/keyquorum/node/audittrail"
	"github.com/keyquorum/keyquorum/node/clock"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/metrics"
)

// State is what the services read of the replicated state: this
// replica's view, linearizable after Runtime.LinearizableRead on the
// leader. *fsm.FSM is the one.
type State interface {
	Key(name string) (*fsm.Key, bool)
	Keys() []*fsm.Key
	Presigs(key string) []*fsm.Presig
	Handle(id string) (*fsm.Handle, bool)
	Sign(requestID string) (*fsm.Sign, bool)
	AuditKey() (k *fsm.Key, attempts int, ok bool)
	Tenants() []fsm.TenantInfo

	PolicyInForce() (st inforce.Record, set bool)
	LimitsInForce() (settings.Limits, bool)
	Authorize(actor string, a policy.Action, key string) policy.Decision
	AuthorizeErr(actor string, a policy.Action, key string) error
	AuditScope(actor string) (all bool, tenants []string, err error)
	SerialDenied(serial string) bool
	AdmitSign(actor, key, requestID string) error
	SignRates(actor, key string) (tenant, principal int)

	Time() int64
	Protocol() uint32
	ProtocolSupport() map[string]uint32
	SettingsDrift() map[string][]settings.Drift
	PreParamsReady() []string
	TableStats() fsm.TableStats
}

var _ State = (*fsm.FSM)(nil)

// Runtime is what the services need of the running member: propose a
// command and wait for its result, read and wait for the replicated state,
// reach the leader, and the few choices and local facts only the member
// has. Package node implements it.
type Runtime interface {
	// Apply proposes cmd on this leader and waits until this replica
	// applied it. A refusal, by raft or by the state machine, is a gRPC
	// status; the Result is the state machine's answer either way.
	Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error)
	// LinearizableRead returns once this replica applied everything
	// committed before the call, while it still leads.
	LinearizableRead(ctx context.Context) error
	// WatchKey and WatchSign return a channel closed when an entry about
	// the key or the sign request is next applied. Take it before the
	// entry waited for is proposed.
	WatchKey(name string) <-chan struct{}
	WatchSign(requestID string) <-chan struct{}

	// IsLeader reports whether this member leads now.
	IsLeader() bool
	// LeaderKnown reports whether this member knows a leader, itself
	// included.
	LeaderKnown() bool
	// Leader returns the addresses of the other member this one believes
	// leads; false when none is known or this one leads.
	Leader() (config.NodeConfig, bool)
	// Conn returns the connection to a member's address, for forwarding.
	Conn(addr string) (*grpc.ClientConn, error)
	// Unreachable returns the members of members this one cannot reach
	// now; nil when it reaches them all.
	Unreachable(members []string) []string

	// ProposeSign appends a sign request on the leader, naming a
	// presignature or FROST commitments when presign allows and the pools
	// have them. dup reports a request id the log had seen; frost lists
	// the commitments the log accepted.
	ProposeSign(ctx context.Context, k *fsm.Key, presign bool, cmd *fsm.SignRequested) (dup bool, frost []fsm.FrostCommitment, err error)
	// PickCommittee picks threshold+1 reachable holders of k.
	PickCommittee(k *fsm.Key) ([]string, error)
	// SignAsked tells the member that a client asked this leader for a
	// signature now: background work on the sign path waits for a lull.
	SignAsked()

	// Holders lists the members a new key is generated among.
	Holders() []string
	// Members lists the members with their replicated state, in id order.
	Members() []membership.Member
	// IsMember reports whether id is a member this one admits.
	IsMember(id string) bool
	// EnsurePeerLinks opens a peer link to every member that has none.
	EnsurePeerLinks()
	// NodeStatus shows a member and where its shares of each key stand.
	NodeStatus(id string) (*kqpb.NodeStatus, error)

	// LocalStatus fills in this member's own view: its raft role and
	// indexes, pre-params, estimates and clock.
	LocalStatus(out *kqpb.StatusResponse)
}

// Faults are the deliberate bugs (kqd_bugs builds) the services take part
// in. The zero value is none.
type Faults struct {
	// StaleRead answers GetKey and ListKeys from this replica's state.
	StaleRead bool
	// SkipDedup signs again for a retried request id.
	SkipDedup bool
	// RevokeLater, when set, appends a revocation seconds after it was
	// answered as done.
	RevokeLater func(cmd *fsm.ChangeKey)
	// ForgeSign, when set, serves the sign requests a compromised leader
	// forges; forged is false for any other request.
	ForgeSign func(ctx context.Context, req *kqpb.SignRequest) (resp *kqpb.SignResponse, forged bool, err error)
}

// Config is what New needs.
type Config struct {
	Runtime Runtime
	State   State
	Cluster *config.Cluster
	// Self is this member's id.
	Self    string
	Clock   clock.Clock
	Log     *slog.Logger
	Metrics *metrics.Set
	// Denials aggregates the refusals that never reach the log.
	Denials *audittrail.Denials
	Faults  Faults
	// Also are the client port's services that live in packages of their
	// own (package backups, package ceremonies): they build on this
	// package's helpers, so it cannot build them; Register registers them
	// with its own.
	Also []func(*grpc.Server)
}

// core is what every service shares: the member behind them and the
// request admission state of this leader.
type core struct {
	rt      Runtime
	fsm     State
	cluster *config.Cluster
	self    string
	clock   clock.Clock
	log     *slog.Logger
	metrics *metrics.Set
	denials *audittrail.Denials
	faults  Faults
	rates   *rateBuckets // admission.go: sign rate quotas, used while leading
}

// Services are the client port's gRPC services but the audit trail's,
// with their unary interceptor and health statuses.
type Services struct {
	n    *core
	also []func(*grpc.Server)
	// Health serves grpc.health.v1; every service is NOT_SERVING until
	// RunHealth.
	Health *health.Server
}

// New builds the services over cfg's member.
func New(cfg Config) *Services {
	s := &Services{n: &core{rt: cfg.Runtime, fsm: cfg.State, cluster: cfg.Cluster, self: cfg.Self, clock: cfg.Clock,
		log: cfg.Log, metrics: cfg.Metrics, denials: cfg.Denials, faults: cfg.Faults, rates: newRateBuckets()},
		also: cfg.Also, Health: health.NewServer()}
	for _, name := range allServices() {
		s.Health.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	return s
}

// Register registers the services on srv, which should run Intercept.
func (s *Services) Register(srv *grpc.Server) {
	kqpb.RegisterKeyServiceServer(srv, &keyService{n: s.n})
	kqpb.RegisterOperatorServiceServer(srv, &operatorService{n: s.n})
	kqpb.RegisterPolicyServiceServer(srv, &policyService{n: s.n})
	kqpb.RegisterMembershipServiceServer(srv, &membershipService{n: s.n})
	for _, register := range s.also {
		register(srv)
	}
	healthpb.RegisterHealthServer(srv, s.Health)
}

// Actor names who asked for the call in ctx, refusing a certificate on
// st's deny-list (see core.actor).
func Actor(ctx context.Context, st State) (string, error) {
	return (&core{fsm: st}).actor(ctx)
}
