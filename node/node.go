// Package node is keyquorum's composition root: it wires the replicated
// state machine (consensus), the threshold engine (tss), the sealed share
// store (node/store), the peer links (node/peer) and the clock bound
// (node/clocksync) to the gRPC services (node/service, which reach the
// member through the Runtime it implements in services.go), and drives
// every request from the moment raft commits it to the moment its outcome
// is committed back.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/applied"
	"github.com/keyquorum/keyquorum/node/audittrail"
	"github.com/keyquorum/keyquorum/node/auditwork"
	"github.com/keyquorum/keyquorum/node/blame"
	"github.com/keyquorum/keyquorum/node/bypass"
	"github.com/keyquorum/keyquorum/node/clock"
	"github.com/keyquorum/keyquorum/node/clocksync"
	"github.com/keyquorum/keyquorum/node/committee"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/drift"
	"github.com/keyquorum/keyquorum/node/estimate"
	"github.com/keyquorum/keyquorum/node/faults"
	"github.com/keyquorum/keyquorum/node/frostsign"
	"github.com/keyquorum/keyquorum/node/members"
	"github.com/keyquorum/keyquorum/node/metrics"
	"github.com/keyquorum/keyquorum/node/peer"
	"github.com/keyquorum/keyquorum/node/pki"
	"github.com/keyquorum/keyquorum/node/presign"
	"github.com/keyquorum/keyquorum/node/refresh"
	"github.com/keyquorum/keyquorum/node/service"
	"github.com/keyquorum/keyquorum/node/sessions"
	"github.com/keyquorum/keyquorum/node/shred"
	"github.com/keyquorum/keyquorum/node/store"
	"github.com/keyquorum/keyquorum/sealing"
	"github.com/keyquorum/keyquorum/tss"
)

// Limits on what one request may cost before any heavy work starts.
const (
	maxClientMessageBytes = 64 << 10 // a sign request carries at most 1 KiB of input
	keygenTimeout         = 3 * time.Minute
)

// Options are a node's process-level settings beyond cluster.yaml.
type Options struct {
	// Clock reads wall time for everything that reaches replicated state
	// (through the quorum bound of node/clocksync). Nil means the system clock.
	Clock clock.Clock
	// Bugs switches on deliberate faults (kqd_bugs builds only).
	Bugs Bugs
	// MetricsAddr, when set, is the TCP address of a plain-HTTP Prometheus
	// endpoint (GET /metrics). It has no authentication and shows no
	// secrets; bind it to loopback or a monitoring network.
	MetricsAddr string
	// Reflection serves gRPC server reflection on the client port, so
	// grpcurl and similar tools list and call the services without the
	// proto files. Callers still need a client certificate; the service
	// shows the API's shape, no data. Off by default.
	Reflection bool
	// Join starts a node that was added by `kq node add` (kqd --join): with
	// no raft state it waits for the leader to add it instead of
	// bootstrapping a cluster from cluster.yaml.
	Join bool
	// CPUProfile also serves GET /debug/pprof/profile?seconds=N on the
	// metrics listener: a CPU profile of this process (sampled call
	// stacks, never memory contents), for performance work.
	CPUProfile bool

	// The seams below let an embedder, or an in-process test cluster
	// (node/nodetest), supply what New otherwise builds from cluster.yaml.

	// Sealer, when set, seals this node's shares and pre-params in place of
	// the TPM that cluster.yaml names. The caller owns it: the node does
	// not close it.
	Sealer Sealer
	// Raft, when set, adjusts this member's raft configuration after New
	// derived it from cluster.yaml. An in-process cluster sets Backend
	// (log, stable and snapshot stores and the transport, in place of
	// BoltDB under the data dir and mutual TLS on the raft address) and
	// timeouts short enough to elect a leader in tens of milliseconds.
	Raft func(*consensus.Config)
	// Listen opens the client, peer and metrics listeners on the addresses
	// of cluster.yaml and Options. Nil means net.Listen("tcp", addr).
	Listen func(addr string) (net.Listener, error)
	_      struct{}
}

// Bugs are the deliberate faults of kqd_bugs builds (node/faults).
type Bugs = faults.Bugs

// Sealer is what the node's sealed store needs (store.Sealer): shares and
// pre-params are sealed to a binding before they touch the disk.
// sealing.TPM is the production one.
type Sealer = store.Sealer

// Node is one keyquorum member.
type Node struct {
	cluster *config.Cluster
	self    config.NodeConfig
	dir     string
	log     *slog.Logger
	clock   clock.Clock
	bugs    Bugs
	// malice plays a malicious member in chosen sessions (the
	// malicious-member bug, kqd_bugs builds only).
	malice faults.Malice

	clocks   *clocksync.Sync
	tpm      *sealing.TPM // the sealer New opened and Close closes; nil when injected
	listenFn func(addr string) (net.Listener, error)
	shares   *store.Shares
	// tenantKeys holds each tenant's data-encryption key.
	tenantKeys *store.TenantKeys
	pre        *store.PreParams
	fsm        *fsm.FSM
	raft       *consensus.Node
	engine     *tss.Engine
	peers      *peer.Links
	waiters    *applied.Waiters
	events     *applied.Queue
	super      *supervisor
	servers    []*grpc.Server
	services   *service.Services // the client port's services but the audit's
	startIdx   uint64            // last log index found on disk at start: entries up to it are replays
	boot       string            // this process life, for presignatures that die with it
	parked     *presign.Parked
	presigs    *presign.Work // this process life's presignature work
	blame      *blame.Work   // this member's accusations, and the committees they steer
	committees *committee.Picker
	members    *members.Roster // the members this node admits and dials
	membership *members.Reconciler
	bypass     *bypass.Work    // the leader-bypass attack (kqd_bugs builds only)
	frost      *frostsign.Work // this process life's FROST nonces and signing work
	// running are this member's signing sessions, for a revocation to stop.
	running   sessions.Running
	proposed  []proposedHook    // run after each entry this leader proposes (propose.go)
	shred     *shred.Reconciler // keeps the share files in line with the state
	refreshes *refresh.Work     // this member's part in refreshes and reshares
	audit     *auditwork.Work
	metrics   *metrics.Set
	// took is how long recent keygens and refreshes ran.
	took *estimate.Durations
	// metricsSrv serves Options.MetricsAddr; nil when that is empty.
	metricsSrv *http.Server

	// fatal carries the error that stops the node from within: the FSM
	// met an entry this build cannot interpret (protocol.go).
	fatal chan error

	wg sync.WaitGroup
}

// New opens the node's sealed store, raft state and listeners. Run starts it.
func New(ctx context.Context, cluster *config.Cluster, id string, log *slog.Logger, opts Options) (*Node, error) {
	self, ok := cluster.Node(id)
	if !ok {
		return nil, fmt.Errorf("node: %q is not in the cluster config (nodes: %v)", id, cluster.NodeIDs())
	}
	n := &Node{cluster: cluster, self: self, dir: cluster.NodeDir(id), log: log.With("node", id), clock: opts.Clock, bugs: opts.Bugs}
	if n.clock == nil {
		n.clock = clock.System{}
	}
	n.sayMode()
	if opts.Bugs != (Bugs{}) {
		n.log.Warn("DELIBERATE BUGS ENABLED: this node is wrong on purpose, for harness tests only", "bugs", fmt.Sprintf("%+v", opts.Bugs))
	}
	if err := os.MkdirAll(n.dir, 0o700); err != nil {
		return nil, fmt.Errorf("node: data dir: %w", err)
	}
	ok = false
	defer func() {
		if !ok {
			n.close()
		}
	}()
	var err error
	n.listenFn = opts.Listen
	if n.listenFn == nil {
		n.listenFn = func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
	}
	sealer := opts.Sealer
	if sealer == nil {
		if n.tpm, err = sealing.OpenTPM(ctx, store.SealingConfig(cluster, self, n.dir), n.log); err != nil {
			return nil, fmt.Errorf("node: open TPM: %w", err)
		}
		sealer = n.tpm
	}
	n.pre = store.NewPreParams(cluster, id, n.dir, sealer, n.log)
	fcfg := fsmConfig(cluster)
	fcfg.CeremonyUndercount = opts.Bugs.CeremonyUndercountOn()
	fcfg.AuthzSkip = opts.Bugs.AuthzSkipOn()
	if n.fsm, err = fsm.NewFSM(fcfg, fsmCrypto{}); err != nil {
		return nil, err
	}
	n.tenantKeys = store.NewTenantKeys(n.dir, cluster.ID, id, sealer, n.fsm.TenantGeneration)
	n.shares = store.NewShares(n.dir, cluster.ID, id, sealer, n.tenantKeys)
	n.boot, n.parked = presign.NewBoot(), presign.NewParked()
	n.shred = n.newShred()
	n.waiters = applied.NewWaiters()
	n.events = applied.NewQueue(n.waiters)
	n.fsm.SetObserver(n.events)
	n.members = members.NewRoster(cluster, n.fsm)
	n.fatal = make(chan error, 1)
	n.fsm.SetHalt(n.halted)
	// What must follow every entry this leader proposes (propose.go).
	n.proposed = []proposedHook{
		n.wakeMembers, // sign and key entries: the members must act at once
		markApplied,   // the services' interceptor: the entry's record tells of a refusal
	}
	if err := n.openAudit(); err != nil {
		return nil, err
	}

	serverTLS, err := pki.ServerTLS(cluster.CertsDir(), id)
	if err != nil {
		return nil, fmt.Errorf("node: server TLS: %w", err)
	}
	clientTLS, err := pki.ClientTLS(cluster.CertsDir(), id)
	if err != nil {
		return nil, fmt.Errorf("node: client TLS: %w", err)
	}
	n.peers = peer.NewLinks(cluster, self, credentials.NewTLS(clientTLS), n.fsm.Protocol, n.peerFaults(), n.log)
	tc := tss.DefaultConfig()
	tc.MaxSessions = 256 // parked presignatures hold sessions too
	tc.SharePending(len(cluster.Nodes) - 1)
	if n.engine, err = tss.NewEngine(tc, id, n.peers, n.log); err != nil {
		return nil, err
	}
	n.metrics = n.newNodeMetrics()
	n.frost = n.newFrostWork()
	n.presigs = n.newPresignWork()
	n.blame = n.newBlameWork()
	n.committees = committee.New(committeeMember{n})
	n.bypass = n.newBypass()
	n.took = estimate.New()
	n.refreshes = n.newRefreshWork()
	if n.clocks, err = newClockSync(n); err != nil {
		return nil, err
	}
	n.metrics.Register(n.clocks, drift.NewCollector(n.fsm.SettingsDrift))
	n.events.Observe = n.metrics.Applied
	n.audit.Export.Records = n.metrics.AuditRecords()
	n.audit.Export.Mismatches = n.metrics.AuditExportMismatches()

	rc := consensus.DefaultConfig()
	rc.NodeID, rc.RaftAddr, rc.Dir = id, self.Raft, filepath.Join(n.dir, "raft")
	for _, m := range cluster.Nodes {
		rc.Peers = append(rc.Peers, consensus.Peer{ID: m.ID, RaftAddr: m.Raft})
	}
	rc.TLS = pki.RaftTLS(n.members.Admits, serverTLS, clientTLS)
	rc.Logger = n.log.With("component", "raft")
	rc.Route = self.Dial
	rc.Join = opts.Join
	if opts.Raft != nil {
		opts.Raft(&rc)
	}
	// Followers learn that an entry committed from the next AppendEntries,
	// sent at the latest every CommitTimeout. Nothing on the sign path
	// waits for that (the leader announces a signing attempt to its
	// committee, see sign_start.go), and other work the followers must
	// start nudges them, so raft's default stands: a 5 ms tick would cost
	// an empty RPC per follower every 5-10 ms when idle.
	if n.raft, err = consensus.Open(ctx, rc, n.fsm); err != nil {
		return nil, fmt.Errorf("node: open raft: %w", err)
	}
	n.startIdx = n.raft.Stats().LastIndex
	n.metrics.StartedAt(n.startIdx)
	n.super = newSupervisor(n)
	n.membership = n.newMembership()

	n.services = n.newServices()
	if err := n.listen(serverTLS, opts.Reflection); err != nil {
		return nil, err
	}
	if opts.MetricsAddr != "" {
		if err := n.listenMetrics(opts.MetricsAddr, opts.CPUProfile); err != nil {
			return nil, err
		}
	}
	ok = true
	return n, nil
}

// sayMode logs the cluster mode at every start: a development cluster must
// never pass for a production one.
func (n *Node) sayMode() {
	if n.cluster.Mode == config.ModeDev {
		n.log.Warn("DEVELOPMENT MODE: the TPM simulator, fixture pre-params and resettable PCRs are allowed; set mode: production to refuse them",
			"tpm", n.cluster.TPM.Backend, "preparams", n.cluster.Preparams.Source)
		return
	}
	n.log.Info("production mode")
}

// listen starts the client and peer gRPC servers. Both require a
// certificate from the cluster CA; sizes are capped before decoding. The
// client port also serves grpc.health.v1 (any authenticated caller may
// check it; Services.RunHealth keeps the statuses) and, with reflection,
// gRPC server reflection.
func (n *Node) listen(serverTLS *tls.Config, withReflection bool) error {
	creds := credentials.NewTLS(serverTLS)
	client := grpc.NewServer(grpc.Creds(creds), grpc.MaxRecvMsgSize(maxClientMessageBytes), grpc.MaxConcurrentStreams(256),
		grpc.ChainUnaryInterceptor(n.services.Intercept))
	n.services.Register(client) // with grpc.health.v1, NOT_SERVING until Run
	kqpb.RegisterAuditServiceServer(client, audittrail.NewService(auditNode{n}, n.audit.Export))
	if withReflection {
		reflection.Register(client)
	}
	peerSrv := peer.NewServer(n.members.Admits, serverTLS)
	kqpb.RegisterPeerServiceServer(peerSrv, &peerService{n: n})
	for _, s := range []struct {
		srv  *grpc.Server
		addr string
	}{{client, n.self.Client}, {peerSrv, n.self.Peer}} {
		ln, err := n.listenFn(s.addr)
		if err != nil {
			return fmt.Errorf("node: listen %s: %w", s.addr, err)
		}
		n.servers = append(n.servers, s.srv)
		go func() {
			if err := s.srv.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				n.log.Error("grpc server stopped", "addr", s.addr, "err", err)
			}
		}()
	}
	return nil
}

// Run drives the node until ctx is cancelled, then shuts it down. It
// returns an error when the node stopped by itself: its replica met an
// entry this build cannot interpret.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	n.log.Info("node started", "client", n.self.Client, "peer", n.self.Peer, "raft", n.self.Raft)
	n.services.Health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	n.spawn(func() { n.pre.Run(ctx, n.reportPreParams) })
	n.spawn(func() { retryUntil(ctx, n.presigs.ReportBoot) })
	n.spawn(func() { retryUntil(ctx, n.reportRecovered) })
	n.spawn(func() { n.dispatch(ctx) })
	n.spawn(func() { n.super.run(ctx) })
	n.spawn(func() { n.clocks.Run(ctx) })
	n.spawn(func() { n.shred.Run(ctx) })
	n.spawn(func() { n.frost.Run(ctx) })
	n.spawn(func() { drift.Report(ctx, n.self.ID, drift.Local(n.cluster), n.fsm, n.report) })
	n.spawn(func() { n.services.RunHealth(ctx) })
	n.spawn(func() { n.blame.WatchFloods(ctx) })
	n.audit.Run(ctx)
	var err error
	select {
	case <-ctx.Done():
	case err = <-n.fatal:
		cancel()
	}
	n.services.Health.Shutdown()
	n.close()
	n.wg.Wait()
	return err
}

// every calls f every d until ctx ends, the first time after d: the
// node's periodic work (the supervisor).
func every(ctx context.Context, d time.Duration, f func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		f()
	}
}

// retryUntil calls f every second until it succeeds or ctx ends.
func retryUntil(ctx context.Context, f func(context.Context) error) {
	for ctx.Err() == nil {
		if f(ctx) == nil {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (n *Node) spawn(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

func (n *Node) close() {
	for _, s := range n.servers {
		s.Stop()
	}
	if n.metricsSrv != nil {
		_ = n.metricsSrv.Close()
	}
	if n.events != nil {
		n.events.Close()
	}
	if n.peers != nil {
		n.peers.Close()
	}
	if n.raft != nil {
		if err := n.raft.Shutdown(); err != nil {
			n.log.Warn("raft shutdown", "err", err)
		}
	}
	if n.tpm != nil {
		if err := n.tpm.Close(); err != nil {
			n.log.Warn("close TPM", "err", err)
		}
	}
}

// fsmConfig derives the replicated limits from cluster.yaml, which every
// member shares, so every replica applies the same bounds.
func fsmConfig(c *config.Cluster) fsm.FSMConfig {
	cfg := fsm.DefaultFSMConfig()
	cfg.RequestRecordAge = c.Lifecycle.DedupAge
	cfg.MaxHandleTTL = c.Handles.MaxTTL
	cfg.ClusterID = c.ID
	return cfg
}
