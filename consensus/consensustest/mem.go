package consensustest

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/keyquorum/keyquorum/consensus"
)

// MemNetwork connects raft members in one process: each member's log,
// stable and snapshot stores live in memory and its transport delivers
// RPCs by channel. The stores outlive a member's raft instance, so Backend
// called again for the same id models a restart from disk; Forget models a
// lost disk. Safe for concurrent use.
type MemNetwork struct {
	mu      sync.Mutex
	members map[string]*memMember // by raft address
}

type memMember struct {
	logs  *raft.InmemStore
	snaps *raft.InmemSnapshotStore
	trans *raft.InmemTransport
}

// NewMemNetwork returns an empty network.
func NewMemNetwork() *MemNetwork { return &MemNetwork{members: map[string]*memMember{}} }

// rpcTimeout bounds an RPC to a member that stopped: its old transport
// still holds the request until then.
const rpcTimeout = 500 * time.Millisecond

// Backend returns the stores of the member at addr (fresh ones on first
// use) with a new transport on addr, connected both ways to every other
// member's current transport.
func (m *MemNetwork) Backend(addr string) *consensus.Backend {
	m.mu.Lock()
	defer m.mu.Unlock()
	mem, ok := m.members[addr]
	if !ok {
		mem = &memMember{logs: raft.NewInmemStore(), snaps: raft.NewInmemSnapshotStore()}
		m.members[addr] = mem
	}
	_, mem.trans = raft.NewInmemTransportWithTimeout(raft.ServerAddress(addr), rpcTimeout)
	for other, o := range m.members {
		if other == addr || o.trans == nil {
			continue
		}
		mem.trans.Connect(raft.ServerAddress(other), o.trans)
		o.trans.Connect(raft.ServerAddress(addr), mem.trans)
	}
	return &consensus.Backend{Logs: mem.logs, Stable: mem.logs, Snapshots: mem.snaps, Transport: mem.trans}
}

// Disconnect cuts the member at addr off from every other member, both
// ways, until its next Backend: RPCs to and from it fail at once.
func (m *MemNetwork) Disconnect(addr string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mem, ok := m.members[addr]
	if !ok || mem.trans == nil {
		return
	}
	mem.trans.DisconnectAll()
	for other, o := range m.members {
		if other != addr && o.trans != nil {
			o.trans.Disconnect(raft.ServerAddress(addr))
		}
	}
}

// Forget drops the member's stores: its next Backend starts from nothing,
// like a member whose disk was lost.
func (m *MemNetwork) Forget(addr string) {
	m.Disconnect(addr)
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.members, addr)
}
