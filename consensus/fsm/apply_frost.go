package fsm

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
)

// frostCommands are the FROST nonce commitments members publish.
func frostCommands() []commandSpec {
	return []commandSpec{spec[FrostCommitted](ProtocolV2)}
}

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
// in a Sign record, of one the request consumed (package pool).
type FrostCommitment = pool.Commitment

// FROST commitment errors (package pool).
var (
	ErrFrostUnavailable = pool.ErrFrostUnavailable
	ErrTooManyFrost     = pool.ErrTooManyFrost
)

// apply records a member's new commitments (pool.Commitments.Publish).
func (c *FrostCommitted) apply(f *FSM, index uint64) Result {
	k, ok := f.st.Keys[c.Key]
	if !ok {
		return Result{Err: fmt.Errorf("FROST commitments for %q: %w", c.Key, ErrUnknownKey)}
	}
	r := &pool.Report{Key: k, Version: c.Version, Epoch: c.Epoch, Node: c.Node, Boot: c.Boot, Current: f.st.Boots[c.Node], Index: index}
	for _, cm := range c.Commitments {
		r.IDs, r.Commitments = append(r.IDs, cm.ID), append(r.Commitments, cm.Commitment)
	}
	if err := f.st.Frost.Publish(r); err != nil {
		return Result{Err: err}
	}
	return Result{Version: c.Version}
}

// consumeFrost checks that a sign request may use the commitments it
// names (pool.Commitments.Consume) and deletes them. It changes nothing
// when it refuses.
func (f *FSM) consumeFrost(k *Key, version uint32, c *SignRequested) ([]FrostCommitment, error) {
	if len(c.Frost) != len(c.Committee) {
		return nil, fmt.Errorf("%w: %d commitments for a committee of %d", ErrFrostUnavailable, len(c.Frost), len(c.Committee))
	}
	if f.st.protocol() < Since(&FrostCommitted{}) {
		// Builds before FROST ignore the field: naming commitments before
		// every replica knows them would let replicas disagree.
		return nil, fmt.Errorf("%w: FROST needs protocol %d", ErrProtocolNotActive, Since(&FrostCommitted{}))
	}
	if c.Presig != "" || k.Algorithm != "ed25519" {
		return nil, fmt.Errorf("%w: FROST signs Ed25519 keys, without a presignature", ErrInvalidCommand)
	}
	return f.st.Frost.Consume(c.Frost, c.Committee, k.Name, version, k.Version(version).Epoch, f.st.Boots)
}

// sweepFrost deletes the commitments of a key that can no longer be used.
func (f *FSM) sweepFrost(key string) { f.st.Frost.Sweep(key, f.st.Keys[key]) }

// FrostCommitments returns copies of the unused commitments of a key
// version at epoch, oldest first.
func (f *FSM) FrostCommitments(key string, version, epoch uint32) []*FrostCommitment {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Frost.Of(key, version, epoch)
}

// FrostIDsOf returns the ids of node's unused commitments and the index
// of the last entry applied, read together: a commitment absent at that
// index was consumed or discarded by an entry at or below it.
func (f *FSM) FrostIDsOf(node string) (map[string]bool, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Frost.IDsOf(node), f.applied
}

// Boot returns node's current process life as the log has it, or "".
func (f *FSM) Boot(node string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Boots[node]
}

func (c *FrostCommitted) records(_ *FSM, _ Result, r audit.Record) []audit.Record {
	r.Actor, r.Key, r.Version = NodeActor(c.Node), c.Key, c.Version
	return []audit.Record{r}
}
