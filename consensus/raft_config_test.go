package consensus_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/consensus/consensustest"
)

func validConfig(t *testing.T) consensus.Config {
	c := consensus.DefaultConfig()
	c.NodeID, c.RaftAddr, c.Dir = "n1", "127.0.0.1:7101", t.TempDir()
	c.Peers = []consensus.Peer{{ID: "n1", RaftAddr: "127.0.0.1:7101"}, {ID: "n2", RaftAddr: "127.0.0.1:7102"}}
	return c
}

func TestConfigValidate(t *testing.T) {
	ca := consensustest.NewCA(t, "ca")
	if err := validConfig(t).Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
	withTLS := validConfig(t)
	withTLS.TLS = ca.MemberTLS(t, "n1")
	if err := withTLS.Validate(); err != nil {
		t.Fatalf("valid TLS config rejected: %v", err)
	}
	cases := map[string]func(*consensus.Config){
		"empty id":           func(c *consensus.Config) { c.NodeID = "" },
		"bad addr":           func(c *consensus.Config) { c.RaftAddr = "nohostport" },
		"no dir":             func(c *consensus.Config) { c.Dir = "" },
		"no peers":           func(c *consensus.Config) { c.Peers = nil },
		"self not in peers":  func(c *consensus.Config) { c.NodeID = "n9" },
		"self addr mismatch": func(c *consensus.Config) { c.RaftAddr = "127.0.0.1:7999" },
		"duplicate id":       func(c *consensus.Config) { c.Peers[1].ID = "n1" },
		"duplicate addr":     func(c *consensus.Config) { c.Peers[1].RaftAddr = c.Peers[0].RaftAddr },
		"lease > heartbeat":  func(c *consensus.Config) { c.LeaderLeaseTimeout = 2 * c.HeartbeatTimeout },
		"election < hb":      func(c *consensus.Config) { c.ElectionTimeout = c.HeartbeatTimeout / 2 },
		"zero rpc timeout":   func(c *consensus.Config) { c.RPCTimeout = 0 },
		"zero retain":        func(c *consensus.Config) { c.SnapshotRetain = 0 },
		"tls without cert":   func(c *consensus.Config) { c.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert} },
		"tls no client auth": func(c *consensus.Config) {
			c.TLS = ca.MemberTLS(t, "n1")
			c.TLS.ClientAuth = tls.VerifyClientCertIfGiven
		},
		"tls skip verify": func(c *consensus.Config) { c.TLS = ca.MemberTLS(t, "n1"); c.TLS.InsecureSkipVerify = true },
	}
	for name, mutate := range cases {
		c := validConfig(t)
		mutate(&c)
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if !strings.HasPrefix(err.Error(), "consensus: ") {
			t.Errorf("%s: error %q lacks package prefix", name, err)
		}
		if _, err := consensus.Open(context.Background(), c, &listFSM{}); err == nil {
			t.Errorf("%s: Open accepted an invalid config", name)
		}
	}
}

func TestOpenRefusesDirInUse(t *testing.T) {
	c := newCluster(t, 1, nil, nil)
	cfg := c.members[0].cfg
	cfg.RaftAddr = consensustest.FreeAddrs(t, 1)[0]
	cfg.Peers = []consensus.Peer{{ID: cfg.NodeID, RaftAddr: cfg.RaftAddr}}
	start := time.Now()
	if n, err := consensus.Open(context.Background(), cfg, &listFSM{}); err == nil {
		_ = n.Shutdown()
		t.Fatal("second Open on the same Dir succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second Open took %v to fail", d)
	}
}

// recordHandler keeps every record's message and logger attribute.
type recordHandler struct {
	mu   *sync.Mutex
	msgs *[]string
}

func (h recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h recordHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h recordHandler) WithGroup(string) slog.Handler            { return h }
func (h recordHandler) Handle(_ context.Context, r slog.Record) error {
	name := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "logger" {
			name = a.Value.String()
		}
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.msgs = append(*h.msgs, name+": "+r.Message)
	return nil
}

func TestRaftLogsReachSlog(t *testing.T) {
	var mu sync.Mutex
	var msgs []string
	logger := slog.New(recordHandler{mu: &mu, msgs: &msgs})
	c := newCluster(t, 1, nil, func(cfg *consensus.Config) { cfg.Logger = logger })
	c.leader()
	mu.Lock()
	defer mu.Unlock()
	for _, m := range msgs {
		if strings.HasPrefix(m, "raft: entering leader state") {
			return
		}
	}
	t.Fatalf("raft's leader log line not seen via slog; got %q", msgs)
}
