package consensus_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/consensus/consensustest"
)

// errRejected is what listFSM returns, as a response, for the command "reject".
var errRejected = errors.New("listfsm: rejected")

// listFSM appends each command to a list; its snapshot is the list as JSON.
type listFSM struct {
	mu       sync.Mutex
	values   []string
	restores int
}

var _ raft.FSM = (*listFSM)(nil)

func (f *listFSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if string(l.Data) == "reject" {
		return errRejected
	}
	f.values = append(f.values, string(l.Data))
	return len(f.values)
}

func (f *listFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := json.Marshal(f.values)
	return listSnapshot(b), err
}

func (f *listFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var vs []string
	if err := json.NewDecoder(rc).Decode(&vs); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.values = vs
	f.restores++
	return nil
}

func (f *listFSM) get() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.values)
}

func (f *listFSM) restoreCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restores
}

type listSnapshot []byte

func (s listSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (listSnapshot) Release() {}

// member is one test node; node and fsm are replaced on restart, dir is kept.
type member struct {
	cfg  consensus.Config
	fsm  *listFSM
	node *consensus.Node
}

type cluster struct {
	t       testing.TB
	members []*member
	// reopen, when set, adjusts a member's Config before each start (a
	// fresh in-memory transport for a restart).
	reopen func(*consensus.Config)
}

// testConfig has timeouts short enough for the suite to stay fast, and long
// enough for a loaded 2-core machine running -race.
func testConfig() consensus.Config {
	c := consensus.DefaultConfig()
	c.HeartbeatTimeout = 300 * time.Millisecond
	c.ElectionTimeout = 300 * time.Millisecond
	// A lease as long as the heartbeat timeout: a loaded machine (make test
	// runs packages in parallel, tss among them) must not depose a healthy
	// leader between two heartbeats.
	c.LeaderLeaseTimeout = 300 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.DialTimeout = 500 * time.Millisecond
	c.RPCTimeout = time.Second
	c.ApplyTimeout = 3 * time.Second
	return c
}

// newCluster starts n members. tlsFor, when non-nil, gives each member's TLS
// config; tweak, when non-nil, adjusts every member's Config.
func newCluster(t testing.TB, n int, tlsFor func(id string) *tls.Config, tweak func(*consensus.Config)) *cluster {
	t.Helper()
	return startCluster(t, n, tlsFor, tweak, nil)
}

// newMemCluster starts n members on a consensustest.MemNetwork: stores in
// memory that survive a member's restart, RPCs by channel.
func newMemCluster(t testing.TB, n int) (*cluster, *consensustest.MemNetwork) {
	t.Helper()
	net := consensustest.NewMemNetwork()
	c := startCluster(t, n, nil, func(cfg *consensus.Config) { cfg.Dir = "" },
		func(cfg *consensus.Config) { cfg.Backend = net.Backend(cfg.RaftAddr) })
	return c, net
}

func startCluster(t testing.TB, n int, tlsFor func(id string) *tls.Config, tweak, reopen func(*consensus.Config)) *cluster {
	t.Helper()
	addrs := consensustest.FreeAddrs(t, n)
	var peers []consensus.Peer
	for i, a := range addrs {
		peers = append(peers, consensus.Peer{ID: fmt.Sprintf("n%d", i+1), RaftAddr: a})
	}
	c := &cluster{t: t, reopen: reopen}
	for _, p := range peers {
		cfg := testConfig()
		cfg.NodeID, cfg.RaftAddr, cfg.Dir, cfg.Peers = p.ID, p.RaftAddr, t.TempDir(), peers
		if tlsFor != nil {
			cfg.TLS = tlsFor(p.ID)
		}
		if tweak != nil {
			tweak(&cfg)
		}
		c.members = append(c.members, &member{cfg: cfg})
	}
	for i := range c.members {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.members {
			c.stop(i)
		}
	})
	return c
}

// start opens member i from its directory with a fresh FSM.
func (c *cluster) start(i int) {
	c.t.Helper()
	m := c.members[i]
	m.fsm = &listFSM{}
	if c.reopen != nil {
		c.reopen(&m.cfg)
	}
	n, err := consensus.Open(context.Background(), m.cfg, m.fsm)
	if err != nil {
		c.t.Fatalf("open %s: %v", m.cfg.NodeID, err)
	}
	m.node = n
}

func (c *cluster) stop(i int) {
	c.t.Helper()
	m := c.members[i]
	if m.node == nil {
		return
	}
	if err := m.node.Shutdown(); err != nil {
		c.t.Errorf("shutdown %s: %v", m.cfg.NodeID, err)
	}
	m.node = nil
}

// leader waits until exactly one running member is leader and every other
// running member names it, then returns its index.
func (c *cluster) leader() int {
	c.t.Helper()
	idx := -1
	eventually(c.t, 5*time.Second, func() error {
		idx = -1
		for i, m := range c.members {
			if m.node != nil && m.node.IsLeader() {
				if idx >= 0 {
					return fmt.Errorf("two leaders: %s and %s", c.members[idx].cfg.NodeID, m.cfg.NodeID)
				}
				idx = i
			}
		}
		if idx < 0 {
			return errors.New("no leader")
		}
		want := c.members[idx].cfg.NodeID
		for _, m := range c.members {
			if m.node == nil {
				continue
			}
			if id, _ := m.node.Leader(); id != want {
				return fmt.Errorf("%s names leader %q, want %q", m.cfg.NodeID, id, want)
			}
		}
		return nil
	})
	return idx
}

func (c *cluster) follower(leader int) int { return (leader + 1) % len(c.members) }

// applyN applies n commands named prefix-0.. on member i.
func (c *cluster) applyN(i, n int, prefix string) []string {
	c.t.Helper()
	var out []string
	for k := range n {
		v := fmt.Sprintf("%s-%d", prefix, k)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		_, _, err := c.members[i].node.Apply(ctx, []byte(v))
		cancel()
		if err != nil {
			c.t.Fatalf("apply %s on %s: %v", v, c.members[i].cfg.NodeID, err)
		}
		out = append(out, v)
	}
	return out
}

// converge waits until every running member's FSM holds exactly want.
func (c *cluster) converge(want []string) {
	c.t.Helper()
	eventually(c.t, 5*time.Second, func() error {
		for _, m := range c.members {
			if m.node == nil {
				continue
			}
			if got := m.fsm.get(); !slices.Equal(got, want) {
				return fmt.Errorf("%s has %d values, want %d", m.cfg.NodeID, len(got), len(want))
			}
		}
		return nil
	})
}

func eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var (
	errNoLeader     = errors.New("no leader")
	errNotConverged = errors.New("not converged")
)
