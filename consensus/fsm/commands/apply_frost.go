package commands

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
)

// frostCommands are the FROST nonce commitments members publish.
func frostCommands() []commandSpec {
	return []commandSpec{spec(frostSince, applyFrostCommitted, recordsFrostCommitted)}
}

// frostSince introduced FROST: its commitments, and sign requests naming
// them.
const frostSince = ProtocolV2

// FrostCommitment is the replicated record of one unused commitment, and,
// in a Sign record, of one the request consumed (package pool).
type FrostCommitment = pool.Commitment

// FROST commitment errors (package pool).
var (
	ErrFrostUnavailable = pool.ErrFrostUnavailable
	ErrTooManyFrost     = pool.ErrTooManyFrost
)

// applyFrostCommitted records a member's new commitments
// (pool.Commitments.Publish).
func applyFrostCommitted(f *Machine, c *FrostCommitted, index uint64) Result {
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
func (f *Machine) consumeFrost(k *Key, version uint32, c *SignRequested) ([]FrostCommitment, error) {
	if len(c.Frost) != len(c.Committee) {
		return nil, fmt.Errorf("%w: %d commitments for a committee of %d", ErrFrostUnavailable, len(c.Frost), len(c.Committee))
	}
	if f.st.ActiveProtocol() < frostSince {
		// Builds before FROST ignore the field: naming commitments before
		// every replica knows them would let replicas disagree.
		return nil, fmt.Errorf("%w: FROST needs protocol %d", ErrProtocolNotActive, frostSince)
	}
	if c.Presig != "" || k.Algorithm != "ed25519" {
		return nil, fmt.Errorf("%w: FROST signs Ed25519 keys, without a presignature", ErrInvalidCommand)
	}
	return f.st.Frost.Consume(c.Frost, c.Committee, k.Name, version, k.Version(version).Epoch, f.st.Boots)
}

// sweepFrost deletes the commitments of a key that can no longer be used.
func (f *Machine) sweepFrost(key string) { f.st.Frost.Sweep(key, f.st.Keys[key]) }

func recordsFrostCommitted(_ *Machine, c *FrostCommitted, _ Result, r audit.Record) []audit.Record {
	r.Key, r.Version = c.Key, c.Version
	return []audit.Record{r}
}
