// Package cluster starts and controls a keyquorum cluster of real kqd
// processes on loopback, each with fresh data and, optionally, its own swtpm.
// Integration tests and the fault-injection harness use it; it knows the
// cluster only through its binaries, its config file and its gRPC API.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// Options describe the cluster to start. Start from DefaultOptions.
type Options struct {
	Nodes       int           // members, n1..nN
	Threshold   int           // default key threshold t
	Backend     string        // "swtpm" or "simulator"
	BinDir      string        // holds kqd and kq
	Dir         string        // fresh working directory: config, data, logs
	FixturesDir string        // pre-params fixtures; empty means generate
	SignTimeout time.Duration // one signing attempt
	// Ed25519 picks sign.ed25519 ("frost" or "tss-lib"); empty keeps the
	// default.
	Ed25519 string
	// ExtraConfig is YAML appended to the generated cluster.yaml, for
	// top-level sections the options above do not cover (presign, audit).
	ExtraConfig string
	// Proxies routes every node-to-node link (raft, peer and forwarded
	// client calls) through a proxy the harness controls; see Link.
	Proxies bool
	// FaultAdmin starts each kqd with its clock fault endpoint; see AdminAddr.
	FaultAdmin bool
	// Metrics starts each kqd with a loopback Prometheus endpoint; see
	// MetricsAddr and Scrape.
	Metrics bool
	// CPUProfile starts each kqd with --cpu-profile (it implies Metrics);
	// see CPUProfile.
	CPUProfile bool
	// Bugs is a comma list of deliberate bugs for kqd built with the
	// kqd_bugs tag ("stale-read,skip-dedup"); empty for none.
	Bugs string
	// Spares are nodes allocated at the start but not members: ports,
	// and with Proxies the links to and from every node, so that a node
	// added later (AddNode takes a spare first) is behind proxies like
	// the others, in every node's via map from its first start.
	Spares int
	// NodeBugs overrides Bugs for the nodes it names, so that one member
	// can misbehave among honest ones (see also SetNodeBugs).
	NodeBugs map[string]string
	_        struct{}
}

// DefaultOptions returns a 3-node, 2-of-3 cluster on swtpm.
func DefaultOptions(binDir, dir string) Options {
	return Options{Nodes: 3, Threshold: 1, Backend: "swtpm", BinDir: binDir, Dir: dir, SignTimeout: 10 * time.Second}
}

// Cluster is a running set of kqd processes.
//
// Methods that control processes (StartNode, Kill, StopNode, Pause, Resume,
// Stop) are not safe for concurrent use with each other; the harness calls
// them from one goroutine. Client, Operator, Audit, Link and SetLink are.
type Cluster struct {
	opts       Options
	ConfigPath string
	nodes      map[string]*node
	order      []string // the members, in order; guarded by mu for writers other than the controlling goroutine
	spares     []string // allocated, not yet added
	links      map[linkKey]*Link
	ports      ports

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

type node struct {
	id                 string
	raft, peer, client string
	tpmPort            int
	kqd, swtpm         *exec.Cmd
	logPath, swtpmLog  string
	exited             chan struct{}
	admin              string // fault admin address, "" without
	metrics            string // metrics address, "" without
	paused             bool
	binDir             string  // overrides Options.BinDir for this node when set
	configPath         string  // overrides ConfigPath for this node when set
	join               bool    // added by a membership change: started with --join
	bugs               *string // overrides Options.Bugs for this node when set
}

// Start writes the config, creates certificates and starts every node.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c := &Cluster{opts: opts, nodes: map[string]*node{}, conns: map[string]*grpc.ClientConn{}, links: map[linkKey]*Link{}}
	if err := os.MkdirAll(filepath.Join(opts.Dir, "logs"), 0o755); err != nil {
		return nil, err
	}
	for i := 1; i <= opts.Nodes+opts.Spares; i++ {
		n, err := c.newNode(fmt.Sprintf("n%d", i))
		if err != nil {
			return nil, err
		}
		if i <= opts.Nodes {
			c.order = append(c.order, n.id)
		} else {
			n.join = true
			c.spares = append(c.spares, n.id)
		}
	}
	if opts.Proxies {
		if err := c.startLinks(); err != nil {
			c.closeLinks()
			return nil, err
		}
	}
	c.ConfigPath = filepath.Join(opts.Dir, "cluster.yaml")
	if err := os.WriteFile(c.ConfigPath, []byte(c.config()), 0o644); err != nil {
		return nil, err
	}
	if out, err := c.KQ(ctx, "certs", "init"); err != nil {
		return nil, fmt.Errorf("cluster: certs init: %w: %s", err, out)
	}
	for _, id := range c.order {
		if err := c.StartNode(id); err != nil {
			c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// newNode allocates a node's ports and log files and records it; the
// caller puts it in the membership or among the spares.
func (c *Cluster) newNode(id string) (*node, error) {
	n := &node{id: id}
	ports, err := c.ports.free(3)
	if err != nil {
		return nil, err
	}
	n.raft, n.peer, n.client = addr(ports[0]), addr(ports[1]), addr(ports[2])
	if c.opts.FaultAdmin {
		ps, err := c.ports.free(1)
		if err != nil {
			return nil, err
		}
		n.admin = addr(ps[0])
	}
	if c.opts.Metrics || c.opts.CPUProfile {
		ps, err := c.ports.free(1)
		if err != nil {
			return nil, err
		}
		n.metrics = addr(ps[0])
	}
	if c.opts.Backend == "swtpm" {
		if n.tpmPort, err = c.ports.pair(); err != nil {
			return nil, err
		}
	}
	n.logPath = filepath.Join(c.opts.Dir, "logs", n.id+".log")
	n.swtpmLog = filepath.Join(c.opts.Dir, "logs", n.id+".swtpm.log")
	c.nodes[n.id] = n
	return n, nil
}

func (c *Cluster) config() string {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster_id: kq-test\ndata_dir: data\nthreshold: %d\n", c.opts.Threshold)
	fmt.Fprintf(&b, "tpm:\n  backend: %s\n", c.opts.Backend)
	if c.opts.FixturesDir != "" {
		fmt.Fprintf(&b, "preparams:\n  source: fixtures\n  fixtures_dir: %s\n", c.opts.FixturesDir)
	}
	fmt.Fprintf(&b, "sign:\n  timeout: %s\n  max_attempts: 3\n", c.opts.SignTimeout)
	if c.opts.Ed25519 != "" {
		fmt.Fprintf(&b, "  ed25519: %s\n", c.opts.Ed25519)
	}
	b.WriteString("nodes:\n")
	for _, id := range c.order {
		n := c.nodes[id]
		fmt.Fprintf(&b, "  - id: %s\n    raft: %s\n    peer: %s\n    client: %s\n", n.id, n.raft, n.peer, n.client)
		if n.tpmPort != 0 {
			fmt.Fprintf(&b, "    tpm_address: 127.0.0.1:%d\n", n.tpmPort)
		}
		b.WriteString(c.viaConfig(id))
	}
	b.WriteString(c.opts.ExtraConfig)
	return b.String()
}

// IDs returns the member node ids in order: those started with the
// cluster and added since, less those retired. Safe for concurrent use
// with AddNode and Retire.
func (c *Cluster) IDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.order...)
}

// DataDir is the cluster's data directory (one subdirectory per node).
func (c *Cluster) DataDir() string { return filepath.Join(c.opts.Dir, "data") }

// LogPath is the file that holds a node's stderr.
func (c *Cluster) LogPath(id string) string { return c.nodes[id].logPath }

// StartNode starts (or restarts) a node's kqd, and its swtpm if it is not running.
func (c *Cluster) StartNode(id string) error {
	n := c.nodes[id]
	if c.opts.Backend == "swtpm" && n.swtpm == nil {
		if err := c.startSwtpm(n); err != nil {
			return err
		}
	}
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cfg := c.ConfigPath
	if n.configPath != "" {
		cfg = n.configPath
	}
	args := []string{"--config", cfg, "--node", id, "--log-level", "debug"}
	if n.admin != "" {
		args = append(args, "--fault-admin", n.admin)
	}
	if n.metrics != "" {
		args = append(args, "--metrics", n.metrics)
		if c.opts.CPUProfile {
			args = append(args, "--cpu-profile")
		}
	}
	bugs := c.opts.Bugs
	if b, ok := c.opts.NodeBugs[id]; ok {
		bugs = b
	}
	if n.bugs != nil {
		bugs = *n.bugs
	}
	if bugs != "" {
		args = append(args, "--bugs", bugs)
	}
	if n.join {
		args = append(args, "--join")
	}
	bin := c.opts.BinDir
	if n.binDir != "" {
		bin = n.binDir
	}
	cmd := exec.Command(filepath.Join(bin, "kqd"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "GOTRACEBACK=all")
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("cluster: start kqd %s: %w", id, err)
	}
	n.kqd, n.exited, n.paused = cmd, make(chan struct{}), false
	go func(done chan struct{}) {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}(n.exited)
	return nil
}

// SetBinDir makes the node's next start run the kqd in dir: a rolling
// upgrade (or downgrade) replaces one node's binary at a time.
func (c *Cluster) SetBinDir(id, dir string) { c.nodes[id].binDir = dir }

// SetNodeBugs makes the node's next start switch on bugs (a comma list,
// "" for none) instead of Options.Bugs: one member of a cluster of kqd_bugs
// builds can then misbehave while the others are honest.
func (c *Cluster) SetNodeBugs(id, bugs string) { c.nodes[id].bugs = &bugs }

// SetNodeConfig makes the node's next start read a config of its own:
// the cluster's, with extra YAML appended (sections the cluster's config
// does not have: the config decoder refuses duplicate keys), so a test can
// give one member settings that differ from the others'.
func (c *Cluster) SetNodeConfig(id, extra string) error {
	base, err := os.ReadFile(c.ConfigPath)
	if err != nil {
		return err
	}
	path := filepath.Join(c.opts.Dir, "cluster-"+id+".yaml")
	if err := os.WriteFile(path, append(base, []byte("\n"+extra)...), 0o644); err != nil {
		return err
	}
	c.nodes[id].configPath = path
	return nil
}

// WaitExit waits up to d for the node's kqd to exit on its own and returns
// ErrExited with the last line of its log; nil when it is still running.
func (c *Cluster) WaitExit(id string, d time.Duration) error {
	n := c.nodes[id]
	if n.kqd == nil {
		return nil
	}
	select {
	case <-n.exited:
		err := c.exited(id)
		n.kqd = nil
		return err
	case <-time.After(d):
		return nil
	}
}

func (c *Cluster) startSwtpm(n *node) error {
	state := filepath.Join(c.opts.Dir, "swtpm", n.id)
	if err := os.MkdirAll(state, 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(n.swtpmLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command("swtpm", "socket", "--tpm2", "--tpmstate", "dir="+state,
		"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", n.tpmPort),
		"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", n.tpmPort+1),
		"--flags", "not-need-init,startup-clear")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("cluster: start swtpm for %s (run `make deps`): %w", n.id, err)
	}
	n.swtpm = cmd
	go func() { _ = cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if conn, err := net.Dial("tcp", addr(n.tpmPort)); err == nil {
			conn.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("cluster: swtpm for %s did not listen on %d", n.id, n.tpmPort)
}

// Kill sends SIGKILL to a node's kqd and waits for it to exit. Its swtpm
// keeps running, as a hardware TPM would.
func (c *Cluster) Kill(id string) {
	n := c.nodes[id]
	if n.kqd == nil {
		return
	}
	_ = n.kqd.Process.Signal(syscall.SIGKILL)
	<-n.exited
	n.paused = false
	n.kqd = nil
}

// StopNode stops a node's kqd with SIGTERM and waits for it to exit. Its
// swtpm keeps running.
func (c *Cluster) StopNode(id string) {
	n := c.nodes[id]
	if n.kqd == nil {
		return
	}
	if n.paused {
		_ = n.kqd.Process.Signal(syscall.SIGCONT)
		n.paused = false
	}
	_ = n.kqd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(10 * time.Second):
		_ = n.kqd.Process.Kill()
		<-n.exited
	}
	n.kqd = nil
}

// TPMAddress is the swtpm command address of a node ("" on the simulator).
func (c *Cluster) TPMAddress(id string) string {
	if p := c.nodes[id].tpmPort; p != 0 {
		return addr(p)
	}
	return ""
}

// LogsDir holds every process's log.
func (c *Cluster) LogsDir() string { return filepath.Join(c.opts.Dir, "logs") }

// Stop terminates every process and gives up the cluster's ports: the
// cluster does not start again.
func (c *Cluster) Stop() {
	c.mu.Lock()
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = map[string]*grpc.ClientConn{}
	c.mu.Unlock()
	for id := range c.nodes { // retired nodes too: their swtpm may still run
		c.StopNode(id)
		if n := c.nodes[id]; n.swtpm != nil {
			_ = n.swtpm.Process.Kill()
			n.swtpm = nil
		}
	}
	c.closeLinks()
	c.ports.release()
}

// KQ runs the kq CLI against this cluster and returns its stdout.
func (c *Cluster) KQ(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.opts.BinDir, "kq"), append([]string{"--config", c.ConfigPath}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("kq %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// Client returns a KeyService client connected to node id with the
// cluster's client certificate.
func (c *Cluster) Client(id string) (kqpb.KeyServiceClient, error) {
	return dial(c, "client", id, kqpb.NewKeyServiceClient)
}

// Operator returns an OperatorService client connected to node id.
func (c *Cluster) Operator(id string) (kqpb.OperatorServiceClient, error) {
	return dial(c, "client", id, kqpb.NewOperatorServiceClient)
}

// Audit returns an AuditService client connected to node id. Audit calls
// are served from that node's own copy of the chain, never forwarded.
func (c *Cluster) Audit(id string) (kqpb.AuditServiceClient, error) {
	return dial(c, "client", id, kqpb.NewAuditServiceClient)
}

// Ceremony returns a CeremonyService client connected to node id. Only the
// leader serves ceremonies; other nodes answer UNAVAILABLE.
func (c *Cluster) Ceremony(id string) (kqpb.CeremonyServiceClient, error) {
	return dial(c, "client", id, kqpb.NewCeremonyServiceClient)
}

// Policy returns a PolicyService client connected to node id (served by
// the leader).
func (c *Cluster) Policy(id string) (kqpb.PolicyServiceClient, error) {
	return dial(c, "client", id, kqpb.NewPolicyServiceClient)
}

// Membership returns a MembershipService client connected to node id
// (served by the leader).
func (c *Cluster) Membership(id string) (kqpb.MembershipServiceClient, error) {
	return dial(c, "client", id, kqpb.NewMembershipServiceClient)
}

// PrincipalClient returns a KeyService client connected to node id with
// the certificate of principal, as `kq certs issue --principal` wrote it
// into the cluster's certs directory.
func (c *Cluster) PrincipalClient(principal, id string) (kqpb.KeyServiceClient, error) {
	return dial(c, principal, id, kqpb.NewKeyServiceClient)
}

// dial makes a service client on the cached connection to node id with the
// certificate named as.
func dial[T any](c *Cluster, as, id string, newClient func(grpc.ClientConnInterface) T) (T, error) {
	conn, err := c.connAs(as, id)
	if err != nil {
		var none T
		return none, err
	}
	return newClient(conn), nil
}

// connAs returns the cached connection to node id with the certificate
// named as.
func (c *Cluster) connAs(as, id string) (*grpc.ClientConn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[id]
	if !ok {
		return nil, fmt.Errorf("cluster: no node %q", id)
	}
	key := id
	if as != "client" {
		key = as + "@" + id
	}
	if conn, ok := c.conns[key]; ok {
		return conn, nil
	}
	tc, err := c.tlsAs(as)
	if err != nil {
		return nil, err
	}
	conn, err := grpc.NewClient(n.client, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		return nil, err
	}
	c.conns[key] = conn
	return conn, nil
}

// PeerClient dials node to's PeerService with member as's certificate,
// for tests that play a misbehaving or impersonated member. The caller
// closes the connection.
func (c *Cluster) PeerClient(as, to string) (kqpb.PeerServiceClient, *grpc.ClientConn, error) {
	tc, err := c.tlsAs(as)
	if err != nil {
		return nil, nil, err
	}
	conn, err := grpc.NewClient(c.nodes[to].peer, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	if err != nil {
		return nil, nil, err
	}
	return kqpb.NewPeerServiceClient(conn), conn, nil
}

// ClientAs dials node to's client port (KeyService, OperatorService) with
// the certificate named as ("client" or a node id), for tests of who may
// call what. The caller closes the connection.
func (c *Cluster) ClientAs(as, to string) (*grpc.ClientConn, error) {
	tc, err := c.tlsAs(as)
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(c.nodes[to].client, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
}

func (c *Cluster) clientTLS() (*tls.Config, error) { return c.tlsAs("client") }

// tlsAs is the client TLS config of a certificate in the cluster's
// certs directory: "client" or a node id.
func (c *Cluster) tlsAs(name string) (*tls.Config, error) {
	dir := filepath.Join(c.DataDir(), "certs")
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("cluster: no CA certificate in ca.pem")
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13}, nil
}

// WaitReady waits until the running nodes agree on a leader and, when
// preparams is set, every member has reported pre-params.
func (c *Cluster) WaitReady(ctx context.Context, preparams bool) error {
	var last error
	for ctx.Err() == nil {
		if last = c.ready(ctx, preparams); last == nil {
			return nil
		}
		if errors.Is(last, ErrExited) {
			return last
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("cluster: not ready: %w (last: %v)", ctx.Err(), last)
}

func (c *Cluster) ready(ctx context.Context, preparams bool) error {
	leader := ""
	for _, id := range c.order {
		if n := c.nodes[id]; n.kqd == nil || n.paused {
			continue
		}
		if err := c.exited(id); err != nil {
			return err
		}
		op, err := c.Operator(id)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := op.Status(cctx, &kqpb.StatusRequest{})
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		if st.LeaderId == "" || (leader != "" && st.LeaderId != leader) {
			return fmt.Errorf("%s: leader %q", id, st.LeaderId)
		}
		leader = st.LeaderId
		if preparams {
			for _, m := range st.Members {
				if !m.PreparamsReady {
					return fmt.Errorf("%s: pre-params of %s not ready", id, m.Id)
				}
			}
		}
	}
	return nil
}

func addr(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
