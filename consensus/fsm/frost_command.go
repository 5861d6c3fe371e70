package fsm

import "slices"

// TypeFrostCommitted publishes a member's FROST nonce commitments.
const TypeFrostCommitted CommandType = "frost_committed"

// FrostCommitted reports nonce commitments (RFC 9591 round one) that Node
// made during its process life Boot for signing with a key version at a
// share epoch. The nonces behind them stay in Node's memory; each
// commitment may be named by one sign request, ever.
type FrostCommitted struct {
	Key         string        `json:"key"`
	Version     uint32        `json:"version"`
	Epoch       uint32        `json:"epoch"`
	Node        string        `json:"node"`
	Boot        string        `json:"boot"`
	Commitments []FrostCommit `json:"commitments"`
}

// FrostCommit is one published commitment: an id the sign request names it
// by and the encoded commitment, SerializeScalar(i) || D_i || E_i.
type FrostCommit struct {
	ID         string `json:"id"`
	Commitment []byte `json:"commitment"`
}

func (FrostCommitted) Type() CommandType  { return TypeFrostCommitted }
func (c FrostCommitted) Reporter() string { return c.Node }

// FrostCommitment is the replicated record of one unused commitment, and,
// in a Sign record, of one the request consumed.
type FrostCommitment struct {
	ID         string `json:"id"`
	Key        string `json:"key"`
	Version    uint32 `json:"version"`
	Epoch      uint32 `json:"epoch"`
	Node       string `json:"node"`
	Boot       string `json:"boot"`
	Commitment []byte `json:"commitment"`
	// Index is the log index of the FrostCommitted entry that published it.
	Index uint64 `json:"index"`
}

func (c *FrostCommitment) clone() *FrostCommitment {
	d := *c
	d.Commitment = slices.Clone(c.Commitment)
	return &d
}

// Bounds of the FROST commitment table. A member keeps at most
// MaxFrostPerMember unused commitments per key version and epoch; one
// entry carries at most MaxFrostBatch; the table holds at most
// MaxFrostCommitments, so a member's reports cannot grow the state
// without limit.
const (
	MaxFrostPerMember   = 64
	MaxFrostBatch       = 32
	MaxFrostCommitments = 100_000
	// FrostCommitmentSize is the encoded commitment's length: a 32-byte
	// identifier and two 32-byte points. The FSM checks only the length;
	// members and the coordinator decode and check the points, and a bad
	// one fails its member's attempt, naming it.
	FrostCommitmentSize = 96
	maxFrostIDLen       = 64
)
