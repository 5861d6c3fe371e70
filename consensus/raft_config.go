package consensus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Peer is one voting member of the raft group.
type Peer struct {
	ID       string // stable member id; raft's ServerID
	RaftAddr string // host:port other members dial for raft RPCs
}

// Config controls one raft member. Start from DefaultConfig and fill in
// NodeID, RaftAddr, Dir and Peers.
type Config struct {
	// NodeID is this member's id; it must appear in Peers.
	NodeID string
	// RaftAddr is both the listen and the advertised address, e.g.
	// 127.0.0.1:7101. It must equal this member's entry in Peers.
	RaftAddr string
	// Dir holds raft.db (log and stable store, fsync on every commit) and
	// snapshots/. It must survive restarts: losing it makes the member
	// forget votes and acknowledged entries, which breaks raft's safety.
	Dir string
	// Peers is the full initial membership, this node included. It is used
	// only when Dir holds no raft state; afterwards the membership stored in
	// the log wins. Every member must be given the identical list.
	Peers []Peer
	// Join makes a member without raft state wait to be added by the
	// leader (AddNonvoter) instead of bootstrapping from Peers.
	Join bool
	// TLS secures raft RPCs in both directions: it is the server config for
	// the listener and the client config for dials, so it must carry this
	// member's certificate, the cluster CA as RootCAs and ClientCAs, and
	// ClientAuth tls.RequireAndVerifyClientCert. TLS 1.3 is required
	// whatever MinVersion says. Any certificate chaining to the CA is
	// accepted; the certificate is not bound to a member id. Nil means plain
	// TCP, which is only acceptable in tests.
	TLS *tls.Config

	// SnapshotThreshold is how many log entries since the last snapshot
	// make raft take a new one (checked every SnapshotInterval).
	SnapshotThreshold uint64
	// SnapshotInterval is how often raft checks SnapshotThreshold.
	SnapshotInterval time.Duration
	// SnapshotRetain is how many snapshots are kept on disk.
	SnapshotRetain int
	// TrailingLogs is how many entries are kept in the log after a
	// snapshot, so that slightly lagging followers catch up from the log
	// instead of a full snapshot transfer.
	TrailingLogs uint64

	// HeartbeatTimeout is how long a follower waits without leader contact
	// before starting an election.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits before retrying.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader stays leader without reaching
	// a quorum. It only bounds how long a deposed leader keeps believing it
	// leads; reads never rely on it (see Node.LinearizableRead).
	LeaderLeaseTimeout time.Duration
	// CommitTimeout bounds how long an entry waits before a heartbeat
	// carries it when no other traffic is flowing.
	CommitTimeout time.Duration

	// DialTimeout bounds a TCP connect plus TLS handshake to a peer.
	DialTimeout time.Duration
	// RPCTimeout bounds one raft RPC (scaled up by raft for snapshots). It
	// is also how long a hung, still-connected follower can stay in
	// Node.Reachable.
	RPCTimeout time.Duration
	// ApplyTimeout bounds how long Apply waits to hand a command to raft
	// when the caller's context has no earlier deadline.
	ApplyTimeout time.Duration

	// Route maps a peer's advertised raft address to the address to dial,
	// so a fault-injection harness can put a proxy on every link. Nil dials
	// the advertised address.
	Route func(addr string) string

	// Logger receives raft's own logs. Nil discards them.
	Logger *slog.Logger

	// Backend, when set, replaces the on-disk stores under Dir and the TLS
	// transport: an embedder, or an in-process test cluster, supplies its
	// own. Dir, TLS, Route and DialTimeout are then unused.
	Backend *Backend

	_ struct{} // disallow positional literals
}

// DefaultConfig returns timeouts suitable for a LAN cluster; the caller
// still sets NodeID, RaftAddr, Dir, Peers and TLS.
func DefaultConfig() Config {
	return Config{
		SnapshotThreshold: 8192,
		SnapshotInterval:  2 * time.Minute,
		SnapshotRetain:    2,
		TrailingLogs:      10240,
		HeartbeatTimeout:  1000 * time.Millisecond,
		ElectionTimeout:   1000 * time.Millisecond,
		// A lease of 500 ms lost leadership six times in ten back-to-back
		// ECDSA keygens on a 2-core host running three nodes, whose
		// heartbeat replies arrived late while every core did modular
		// exponentiation; at the heartbeat timeout it lost none
		// (docs/BENCHMARKS.md). A partitioned leader steps down half a
		// second later; nothing else depends on the lease.
		LeaderLeaseTimeout: 1000 * time.Millisecond,
		CommitTimeout:      50 * time.Millisecond,
		DialTimeout:        2 * time.Second,
		RPCTimeout:         5 * time.Second,
		ApplyTimeout:       10 * time.Second,
	}
}

// Validate reports the first problem with c: missing fields, ranges, and the
// relations raft itself enforces between timeouts.
func (c Config) Validate() error {
	if c.NodeID == "" {
		return errors.New("consensus: config: NodeID is empty")
	}
	if _, _, err := net.SplitHostPort(c.RaftAddr); err != nil {
		return fmt.Errorf("consensus: config: RaftAddr %q: %w", c.RaftAddr, err)
	}
	if c.Dir == "" && c.Backend == nil {
		return errors.New("consensus: config: Dir is empty")
	}
	if len(c.Peers) == 0 {
		return errors.New("consensus: config: Peers is empty")
	}
	ids := make(map[string]bool, len(c.Peers))
	addrs := make(map[string]bool, len(c.Peers))
	self := false
	for _, p := range c.Peers {
		if p.ID == "" {
			return errors.New("consensus: config: peer with empty ID")
		}
		if _, _, err := net.SplitHostPort(p.RaftAddr); err != nil {
			return fmt.Errorf("consensus: config: peer %s RaftAddr %q: %w", p.ID, p.RaftAddr, err)
		}
		if ids[p.ID] {
			return fmt.Errorf("consensus: config: duplicate peer id %s", p.ID)
		}
		if addrs[p.RaftAddr] {
			return fmt.Errorf("consensus: config: duplicate peer address %s", p.RaftAddr)
		}
		ids[p.ID], addrs[p.RaftAddr] = true, true
		if p.ID == c.NodeID {
			if p.RaftAddr != c.RaftAddr {
				return fmt.Errorf("consensus: config: peer %s has address %s, RaftAddr is %s", p.ID, p.RaftAddr, c.RaftAddr)
			}
			self = true
		}
	}
	if !self {
		return fmt.Errorf("consensus: config: NodeID %s is not in Peers", c.NodeID)
	}
	if c.TLS != nil {
		if len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil {
			return errors.New("consensus: config: TLS has no certificate")
		}
		if c.TLS.ClientAuth != tls.RequireAndVerifyClientCert {
			return errors.New("consensus: config: TLS.ClientAuth must be RequireAndVerifyClientCert")
		}
		if c.TLS.InsecureSkipVerify {
			return errors.New("consensus: config: TLS.InsecureSkipVerify is set")
		}
	}
	if c.SnapshotThreshold == 0 || c.SnapshotInterval <= 0 || c.SnapshotRetain < 1 {
		return errors.New("consensus: config: SnapshotThreshold, SnapshotInterval and SnapshotRetain must be positive")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"HeartbeatTimeout", c.HeartbeatTimeout}, {"ElectionTimeout", c.ElectionTimeout},
		{"LeaderLeaseTimeout", c.LeaderLeaseTimeout}, {"CommitTimeout", c.CommitTimeout},
		{"DialTimeout", c.DialTimeout}, {"RPCTimeout", c.RPCTimeout}, {"ApplyTimeout", c.ApplyTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("consensus: config: %s must be positive", d.name)
		}
	}
	// raft's ValidateConfig rejects these too, with less context.
	if c.HeartbeatTimeout < 5*time.Millisecond || c.ElectionTimeout < 5*time.Millisecond {
		return errors.New("consensus: config: HeartbeatTimeout and ElectionTimeout must be at least 5ms")
	}
	if c.LeaderLeaseTimeout > c.HeartbeatTimeout {
		return errors.New("consensus: config: LeaderLeaseTimeout may not exceed HeartbeatTimeout")
	}
	if c.ElectionTimeout < c.HeartbeatTimeout {
		return errors.New("consensus: config: ElectionTimeout may not be below HeartbeatTimeout")
	}
	return nil
}
