package config

import (
	"path/filepath"
	"slices"
	"time"
)

// TPMBackend names where a node's TPM lives.
type TPMBackend string

// The TPM backends a node can use.
const (
	// BackendSimulator is the embedded TPM simulator: for development only,
	// its seed lives in the data directory.
	BackendSimulator TPMBackend = "simulator"
	// BackendSwtpm is an swtpm process per node reached over TCP.
	BackendSwtpm TPMBackend = "swtpm"
	// BackendDevice is the machine's TPM, through the kernel resource manager.
	BackendDevice TPMBackend = "device"
)

// PreparamsSource names where a node gets its ECDSA pre-params.
type PreparamsSource string

// The pre-params sources.
const (
	// PreparamsGenerate generates pre-params in the background at first start.
	PreparamsGenerate PreparamsSource = "generate"
	// PreparamsFixtures loads them from FixturesDir/<node id>.json. Test only:
	// fixtures are public, so keys built from them are not to be trusted.
	PreparamsFixtures PreparamsSource = "fixtures"
)

// Cluster modes.
const (
	// ModeDev allows the embedded TPM simulator, fixture pre-params and
	// resettable PCRs, and says so loudly on every start.
	ModeDev = "dev"
	// ModeProduction refuses them.
	ModeProduction = "production"
)

// ResettablePCR reports whether any process on the machine can reset PCR
// p (16, the debug PCR, and 23, the application PCR), so that sealing to it
// binds a key to nothing: fine for development only.
func ResettablePCR(p int) bool { return p == 16 || p == 23 }

// DefaultDevice is the TPM device used by BackendDevice when none is set.
const DefaultDevice = "/dev/tpmrm0"

// Cluster is a parsed cluster.yaml. Paths are absolute once it comes from
// Load or Parse. Start from DefaultCluster when building one in code, and
// call Validate.
type Cluster struct {
	ID string // cluster_id: names the trust domain in certificates
	// Mode is ModeDev or ModeProduction: production refuses the settings
	// that are only fit for development (see Validate).
	Mode      string
	DataDir   string          // data_dir, absolute; each node uses DataDir/<id>
	Threshold int             // default t for new keys: any t+1 members sign
	TPM       TPMConfig       // tpm
	Preparams PreparamsConfig // preparams
	Sign      SignConfig      // sign
	Presign   PresignConfig   // presign
	Audit     AuditConfig     // audit
	Lifecycle LifecycleConfig // lifecycle
	Handles   HandlesConfig   // handles
	Clock     ClockConfig     // clock
	Nodes     []NodeConfig    // nodes, in file order

	file string         // name used in error messages
	pos  map[string]int // field path -> line, from the decoder
	_    struct{}
}

// TPMConfig says which TPM seals the nodes' key-encryption keys.
type TPMConfig struct {
	Backend TPMBackend
	Device  string // BackendDevice only
	PCRs    []int  // PCR indexes the sealing policy binds to
	_       struct{}
}

// PreparamsConfig says where nodes get ECDSA pre-params.
type PreparamsConfig struct {
	Source      PreparamsSource
	FixturesDir string // absolute; PreparamsFixtures only
	_           struct{}
}

// SignConfig bounds signing.
type SignConfig struct {
	Timeout     time.Duration // one signing attempt by one committee
	MaxAttempts int           // committees tried before a request fails
	// Ed25519 picks how Ed25519 keys sign: SignerFROST (RFC 9591, one round
	// after the request with commitments published ahead) or SignerTSSLib
	// (tss-lib's three-round EdDSA).
	Ed25519 Ed25519Signer
	// FrostPool is how many FROST nonce commitments each member keeps
	// published per Ed25519 key; 0 turns the pool off (every request then
	// takes the tss-lib path).
	FrostPool int
	_         struct{}
}

// Ed25519Signer names an Ed25519 signing protocol.
type Ed25519Signer string

// Ed25519 signing protocols.
const (
	SignerFROST  Ed25519Signer = "frost"
	SignerTSSLib Ed25519Signer = "tss-lib"
)

// MaxFrostPool bounds sign.frost_pool; the FSM keeps at most this many
// unused commitments per member and key version.
const MaxFrostPool = 64

// PresignConfig sizes the ECDSA presignature pool.
type PresignConfig struct {
	Pool int           // ready or pending presignatures kept per ECDSA key; 0 turns the pool off
	TTL  time.Duration // how long a parked presignature may wait for its message
	_    struct{}
}

// AuditConfig tunes the audit chain.
type AuditConfig struct {
	// CheckpointEvery is how many records may follow the last checkpoint
	// before the cluster signs the chain head with its audit key.
	CheckpointEvery int
	// DenialWindow is how long refusals before the log are aggregated per
	// (actor, operation, reason) before they are appended as records.
	DenialWindow time.Duration
	_            struct{}
}

// LifecycleConfig times key lifecycle changes.
type LifecycleConfig struct {
	// DualSignWindow is how long, after a promotion, the previous primary
	// co-signs every request (unless the promotion says otherwise).
	DualSignWindow time.Duration
	// DestroyPending is how long a scheduled destruction waits, during
	// which it can be cancelled.
	DestroyPending time.Duration
	// DedupAge is how long request ids are remembered for retries.
	DedupAge time.Duration
	_        struct{}
}

// HandlesConfig bounds capability handles.
type HandlesConfig struct {
	MaxTTL time.Duration // the longest life a handle may be issued with
	_      struct{}
}

// ClockConfig bounds how far the clock that stamps replicated time may be
// from a quorum's clocks (see node/clock.Bound).
type ClockConfig struct {
	// MaxOffset is the largest difference between the leader's clock and
	// those of a quorum of members at which the leader still stamps
	// entries; beyond it the leader steps down.
	MaxOffset time.Duration
	_         struct{}
}

// NodeConfig is one member's addresses, each host:port.
type NodeConfig struct {
	ID         string
	Raft       string // raft transport
	Peer       string // PeerService (threshold round messages)
	Client     string // KeyService and OperatorService
	TPMAddress string // swtpm command port; the control port is one above
	// Via maps a peer address to the address this node dials instead. It
	// exists for fault injection: a harness puts a proxy on every link.
	Via map[string]string
	_   struct{}
}

// DefaultCluster returns the defaults that apply to fields cluster.yaml
// leaves out. ID and Nodes have no default.
func DefaultCluster() Cluster {
	return Cluster{
		DataDir:   "data",
		Mode:      ModeDev,
		Threshold: 1,
		TPM:       TPMConfig{Backend: BackendSimulator, PCRs: []int{16}},
		Preparams: PreparamsConfig{Source: PreparamsGenerate},
		Sign:      SignConfig{Timeout: 20 * time.Second, MaxAttempts: 3, Ed25519: SignerFROST, FrostPool: 32},
		Presign:   PresignConfig{Pool: 4, TTL: 10 * time.Minute},
		Audit:     AuditConfig{CheckpointEvery: 256, DenialWindow: 10 * time.Second},
		Lifecycle: LifecycleConfig{DualSignWindow: time.Hour, DestroyPending: 24 * time.Hour, DedupAge: 24 * time.Hour},
		Handles:   HandlesConfig{MaxTTL: 24 * time.Hour},
		Clock:     ClockConfig{MaxOffset: 500 * time.Millisecond},
	}
}

// Node returns the node with the given id; ok is false when there is none.
func (c *Cluster) Node(id string) (n NodeConfig, ok bool) {
	for _, n := range c.Nodes {
		if n.ID == id {
			return n, true
		}
	}
	return NodeConfig{}, false
}

// NodeDir is the node's own data directory, DataDir/<id>.
func (c *Cluster) NodeDir(id string) string { return filepath.Join(c.DataDir, id) }

// CertsDir holds the cluster's certificate authority and certificates.
func (c *Cluster) CertsDir() string { return filepath.Join(c.DataDir, "certs") }

// PreparamsFixture is the fixture file for a node when Preparams.Source is
// PreparamsFixtures.
func (c *Cluster) PreparamsFixture(id string) string {
	return filepath.Join(c.Preparams.FixturesDir, id+".json")
}

// Dial returns the address this node dials to reach addr: addr itself, or
// its proxy from Via.
func (n NodeConfig) Dial(addr string) string {
	if v, ok := n.Via[addr]; ok {
		return v
	}
	return addr
}

// NodeIDs returns the node ids in sorted order.
func (c *Cluster) NodeIDs() []string {
	ids := make([]string, 0, len(c.Nodes))
	for _, n := range c.Nodes {
		ids = append(ids, n.ID)
	}
	slices.Sort(ids)
	return ids
}
