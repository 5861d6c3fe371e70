// Package nodetest starts a keyquorum cluster inside one test process. Every
// member is a real node.Node: real tss-lib, gRPC with mutual TLS from the
// cluster's own certificates over loopback sockets, audit and shares on
// disk. What New would build from cluster.yaml is replaced through the
// seams of node.Options: raft runs on in-memory stores and transport
// (consensustest.MemNetwork) with short timeouts, shares are sealed by a
// software sealer (sealingtest), and pre-params come from the test
// fixtures. Start returns once raft elected a leader (one to two heartbeat
// timeouts after the members start: 300-600ms with an ElectionTimeout of
// 300ms) and the members' pre-params reports committed.
//
// Tests of what only processes show (kill -9, restart from disk, the kq
// CLI, crash output, a TPM) use real kqd processes through jepsen/cluster.
package nodetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/consensus/consensustest"
	"github.com/keyquorum/keyquorum/node"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/pki"
	"github.com/keyquorum/keyquorum/sealing"
	"github.com/keyquorum/keyquorum/sealing/sealingtest"
)

// Options describe the cluster to start; the zero value is 3 members, any
// two of which sign.
type Options struct {
	Nodes     int // members, n1..nN; 0 means 3
	Threshold int // default key threshold t; 0 means 1
	// SignTimeout is one signing attempt; 0 means kqd's default, 20s: the
	// members share one process's CPU, so a full ECDSA protocol takes the
	// CPU of all three, and a test beside other tests must not see an
	// attempt time out for want of it. Tests of timeouts set their own.
	SignTimeout time.Duration
	// ExtraConfig is YAML appended to the generated cluster.yaml, for
	// top-level sections the options above do not cover (presign, audit).
	ExtraConfig string
	// Reflection serves gRPC server reflection on every client port.
	Reflection bool
	// ElectionTimeout is raft's heartbeat and election timeout. 0 keeps
	// the production default (1s), under which three members sharing one
	// process and a busy machine's CPU with keygen hold their leader;
	// 300ms elects the first leader within 300-600ms, for tests that
	// restart members often and sign little.
	ElectionTimeout time.Duration
	_               struct{}
}

// Cluster is a running in-process cluster. Its methods are safe for
// concurrent use, except StopNode and StartNode on the same member.
type Cluster struct {
	t       testing.TB
	opts    Options
	cfg     *config.Cluster
	net     *consensustest.MemNetwork
	order   []string
	members map[string]*member

	reflection bool

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

type member struct {
	id      string
	raft    string
	sealer  *sealing.Envelope       // kept across restarts, as a TPM would be
	logPath string                  // the member's log, appended across restarts
	pending map[string]net.Listener // listeners opened before the config was written

	mu     sync.Mutex
	node   *node.Node
	stop   context.CancelFunc
	done   chan error // Run's result; nil while stopped
	runErr error      // how the last run ended
}

// Start starts a cluster and waits until it has a leader and every
// member's pre-params are ready. The cluster stops when the test ends; on
// failure each member's log tail is written to the test log.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Threshold == 0 {
		opts.Threshold = 1
	}
	if opts.SignTimeout == 0 {
		opts.SignTimeout = 20 * time.Second
	}
	c := &Cluster{t: t, opts: opts, net: consensustest.NewMemNetwork(), members: map[string]*member{}, conns: map[string]*grpc.ClientConn{},
		reflection: opts.Reflection}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "logs"), 0o700); err != nil {
		t.Fatalf("nodetest: %v", err)
	}
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "cluster_id: kq-test\ndata_dir: %s\nthreshold: %d\n", filepath.Join(dir, "data"), opts.Threshold)
	fmt.Fprintf(&yaml, "preparams:\n  source: fixtures\n  fixtures_dir: %s\n", FixturesDir())
	fmt.Fprintf(&yaml, "sign:\n  timeout: %s\n  max_attempts: 3\nnodes:\n", opts.SignTimeout)
	for i := 1; i <= opts.Nodes; i++ {
		m := &member{id: fmt.Sprintf("n%d", i), sealer: sealingtest.New(t), pending: map[string]net.Listener{}}
		m.logPath = filepath.Join(dir, "logs", m.id+".log")
		// Raft travels in memory; its address only names the member.
		m.raft = fmt.Sprintf("127.0.0.1:%d", 7000+i)
		fmt.Fprintf(&yaml, "  - id: %s\n    raft: %s\n", m.id, m.raft)
		for _, role := range []string{"peer", "client"} {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatalf("nodetest: listen: %v", err)
			}
			m.pending[ln.Addr().String()] = ln
			fmt.Fprintf(&yaml, "    %s: %s\n", role, ln.Addr())
		}
		c.members[m.id] = m
		c.order = append(c.order, m.id)
	}
	yaml.WriteString(opts.ExtraConfig)
	t.Cleanup(c.stopAll)
	cfg, err := config.Parse([]byte(yaml.String()), dir, "cluster.yaml")
	if err != nil {
		t.Fatalf("nodetest: config: %v", err)
	}
	c.cfg = cfg
	if err := pki.Init(cfg.CertsDir(), cfg); err != nil {
		t.Fatalf("nodetest: certificates: %v", err)
	}
	for _, id := range c.order {
		if err := c.StartNode(id); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitReady(ctx, true); err != nil {
		t.Fatal(err)
	}
	return c
}

// FixturesDir is the directory of the test pre-params fixtures
// (tss/testdata/preparams), which make keygen take seconds instead of
// minutes. They are for tests only.
func FixturesDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "tss", "testdata", "preparams")
}

// Config is the cluster's parsed cluster.yaml.
func (c *Cluster) Config() *config.Cluster { return c.cfg }

// IDs returns the member ids in order.
func (c *Cluster) IDs() []string { return append([]string(nil), c.order...) }

// DataDir is the cluster's data directory (one subdirectory per member,
// and certs/).
func (c *Cluster) DataDir() string { return c.cfg.DataDir }

// Node returns member id's running node, or nil while it is stopped.
func (c *Cluster) Node(id string) *node.Node {
	m := c.members[id]
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node
}

// raftConfig puts a member's raft on the in-memory network, with the
// heartbeat and election timeouts of Options.ElectionTimeout.
func (c *Cluster) raftConfig(cfg *consensus.Config) {
	cfg.Backend, cfg.Dir = c.net.Backend(cfg.RaftAddr), ""
	if d := c.opts.ElectionTimeout; d > 0 {
		cfg.HeartbeatTimeout, cfg.ElectionTimeout = d, d
		// A lease as long as the heartbeat timeout: a loaded machine must
		// not depose a healthy leader between two heartbeats.
		cfg.LeaderLeaseTimeout = d
	}
}

// StartNode starts (or restarts) member id on its data directory, its raft
// stores and its sealer: a restart keeps what a member keeps on disk.
func (c *Cluster) StartNode(id string) error {
	m, ok := c.members[id]
	if !ok {
		return fmt.Errorf("nodetest: no member %q", id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.node != nil {
		return fmt.Errorf("nodetest: %s is running", id)
	}
	logf, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("nodetest: log of %s: %w", id, err)
	}
	log := slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	n, err := node.New(ctx, c.cfg, id, log, node.Options{
		Sealer:     m.sealer,
		Raft:       c.raftConfig,
		Listen:     m.listen,
		Reflection: c.reflection,
	})
	if err != nil {
		cancel()
		_ = logf.Close()
		return fmt.Errorf("nodetest: start %s: %w", id, err)
	}
	done := make(chan error, 1)
	go func() {
		err := n.Run(ctx)
		_ = logf.Close()
		done <- err
	}()
	m.node, m.stop, m.done = n, cancel, done
	return nil
}

// listen hands out the listener opened before the config was written, so
// no other process can take its port; a restart listens on it again.
func (m *member) listen(addr string) (net.Listener, error) {
	if ln, ok := m.pending[addr]; ok {
		delete(m.pending, addr)
		return ln, nil
	}
	return net.Listen("tcp", addr)
}

// StopNode stops member id as a clean shutdown would, and waits for it.
// Its data directory, raft stores and sealer remain for StartNode.
func (c *Cluster) StopNode(id string) {
	m := c.members[id]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.node == nil {
		return
	}
	m.stop()
	select {
	case m.runErr = <-m.done:
	case <-time.After(30 * time.Second):
		c.t.Errorf("nodetest: %s did not stop within 30s", id)
	}
	c.net.Disconnect(m.raft)
	m.node, m.stop, m.done = nil, nil, nil
	c.mu.Lock()
	if conn, ok := c.conns[id]; ok {
		_ = conn.Close()
		delete(c.conns, id)
	}
	c.mu.Unlock()
}

// ErrStopped is returned by Err for a member whose Run ended by itself.
var ErrStopped = errors.New("nodetest: node stopped by itself")

// Err reports whether member id's node stopped by itself (its Run returned
// before StopNode), with the error Run returned.
func (c *Cluster) Err(id string) error {
	m := c.members[id]
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done == nil {
		return nil
	}
	select {
	case err := <-m.done:
		m.done = nil
		m.runErr = err
		m.node = nil
		return fmt.Errorf("%w: %s: %v", ErrStopped, id, err)
	default:
		return nil
	}
}

// LogPath is the file member id logs to (at debug level, as the real
// processes of jepsen/cluster do), across restarts.
func (c *Cluster) LogPath(id string) string { return c.members[id].logPath }

// Logs returns what member id has logged so far.
func (c *Cluster) Logs(id string) string {
	b, _ := os.ReadFile(c.members[id].logPath)
	return string(b)
}

func (c *Cluster) stopAll() {
	c.mu.Lock()
	for _, conn := range c.conns {
		_ = conn.Close()
	}
	c.conns = map[string]*grpc.ClientConn{}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range c.order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.StopNode(id)
		}()
	}
	wg.Wait()
	for _, m := range c.members {
		for _, ln := range m.pending {
			_ = ln.Close()
		}
	}
	if c.t.Failed() {
		for _, id := range c.order {
			c.t.Logf("---- %s log (tail) ----\n%s", id, tail(c.Logs(id), 4000))
		}
	}
}

// Conn returns a connection to member id's client port with the cluster's
// operator client certificate; it is closed when the member stops or the
// cluster does.
func (c *Cluster) Conn(id string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if conn, ok := c.conns[id]; ok {
		return conn, nil
	}
	conn, err := c.ClientAs(pki.ClientName, id)
	if err != nil {
		return nil, err
	}
	c.conns[id] = conn
	return conn, nil
}

// Client returns a KeyService client of member id.
func (c *Cluster) Client(id string) (kqpb.KeyServiceClient, error) {
	conn, err := c.Conn(id)
	if err != nil {
		return nil, err
	}
	return kqpb.NewKeyServiceClient(conn), nil
}

// Operator returns an OperatorService client of member id.
func (c *Cluster) Operator(id string) (kqpb.OperatorServiceClient, error) {
	conn, err := c.Conn(id)
	if err != nil {
		return nil, err
	}
	return kqpb.NewOperatorServiceClient(conn), nil
}

// Audit returns an AuditService client of member id.
func (c *Cluster) Audit(id string) (kqpb.AuditServiceClient, error) {
	conn, err := c.Conn(id)
	if err != nil {
		return nil, err
	}
	return kqpb.NewAuditServiceClient(conn), nil
}

// ClientAs dials member to's client port with the certificate named as
// (pki.ClientName or a member id), for tests of who may call what. The
// caller closes the connection.
func (c *Cluster) ClientAs(as, to string) (*grpc.ClientConn, error) {
	n, ok := c.cfg.Node(to)
	if !ok {
		return nil, fmt.Errorf("nodetest: no member %q", to)
	}
	return c.dial(as, n.Client)
}

// PeerClient dials member to's PeerService with member as's certificate,
// for tests that play a misbehaving or impersonated member. The caller
// closes the connection.
func (c *Cluster) PeerClient(as, to string) (kqpb.PeerServiceClient, *grpc.ClientConn, error) {
	n, ok := c.cfg.Node(to)
	if !ok {
		return nil, nil, fmt.Errorf("nodetest: no member %q", to)
	}
	conn, err := c.dial(as, n.Peer)
	if err != nil {
		return nil, nil, err
	}
	return kqpb.NewPeerServiceClient(conn), conn, nil
}

func (c *Cluster) dial(as, addr string) (*grpc.ClientConn, error) {
	tc, err := pki.ClientTLS(c.cfg.CertsDir(), as)
	if err != nil {
		return nil, fmt.Errorf("nodetest: TLS as %s: %w", as, err)
	}
	return grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
}

// Scrape returns member id's metrics in the Prometheus text format, as its
// metrics endpoint would serve them.
func (c *Cluster) Scrape(ctx context.Context, id string) (string, error) {
	n := c.Node(id)
	if n == nil {
		return "", fmt.Errorf("nodetest: scrape %s: not running", id)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequestWithContext(ctx, "GET", "/metrics", nil)
	n.MetricsHandler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		return "", fmt.Errorf("nodetest: scrape %s: HTTP %d: %.200s", id, rec.Code, rec.Body.String())
	}
	return rec.Body.String(), nil
}

// Leader returns the leader every running member names, when they agree
// on one that runs.
func (c *Cluster) Leader(ctx context.Context) (string, error) {
	return c.agree(ctx, false)
}

// WaitReady waits until the running members agree on a leader and, when
// preparams is set, every member has reported pre-params.
func (c *Cluster) WaitReady(ctx context.Context, preparams bool) error {
	var last error
	for {
		if _, last = c.agree(ctx, preparams); last == nil {
			return nil
		}
		if errors.Is(last, ErrStopped) {
			return last
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nodetest: not ready: %w (last: %v)", ctx.Err(), last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *Cluster) agree(ctx context.Context, preparams bool) (string, error) {
	leader := ""
	for _, id := range c.order {
		if err := c.Err(id); err != nil {
			return "", err
		}
		if c.Node(id) == nil {
			continue
		}
		op, err := c.Operator(id)
		if err != nil {
			return "", err
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := op.Status(cctx, &kqpb.StatusRequest{})
		cancel()
		if err != nil {
			return "", fmt.Errorf("%s: %w", id, err)
		}
		if st.LeaderId == "" || (leader != "" && st.LeaderId != leader) {
			return "", fmt.Errorf("%s: leader %q", id, st.LeaderId)
		}
		leader = st.LeaderId
		if preparams {
			for _, m := range st.Members {
				if !m.PreparamsReady {
					return "", fmt.Errorf("%s: pre-params of %s not ready", id, m.Id)
				}
			}
		}
	}
	if leader == "" {
		return "", errors.New("nodetest: no member running")
	}
	if _, ok := c.members[leader]; !ok || c.Node(leader) == nil {
		// The others have not yet noticed that their leader stopped.
		return "", fmt.Errorf("nodetest: leader %s is stopped", leader)
	}
	return leader, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
