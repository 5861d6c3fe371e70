package commands

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
)

// frostCommands are the FROST nonce commitments members publish.
func frostCommands() []commandSpec {
	return []commandSpec{spec(frostSince, applyFrostCommitted, recordsFrostCommitted)}
}

// frostSince introduced FROST: its commitments, and sign requests naming
// them.
const frostSince = protover.V2

// applyFrostCommitted records a member's new commitments
// (pool.Commitments.Publish).
func applyFrostCommitted(f *Machine, c *entry.FrostCommitted, index uint64) Result {
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
func (f *Machine) consumeFrost(k *keys.Key, version uint32, c *entry.SignRequested) ([]pool.Commitment, error) {
	if len(c.Frost) != len(c.Committee) {
		return nil, fmt.Errorf("%w: %d commitments for a committee of %d", pool.ErrFrostUnavailable, len(c.Frost), len(c.Committee))
	}
	if f.st.ActiveProtocol() < frostSince {
		// Builds before FROST ignore the field: naming commitments before
		// every replica knows them would let replicas disagree.
		return nil, fmt.Errorf("%w: FROST needs protocol %d", protover.ErrNotActive, frostSince)
	}
	if c.Presig != "" || k.Algorithm != "ed25519" {
		return nil, fmt.Errorf("%w: FROST signs Ed25519 keys, without a presignature", ErrInvalidCommand)
	}
	return f.st.Frost.Consume(c.Frost, c.Committee, k.Name, version, k.Version(version).Epoch, f.st.Boots)
}

// sweepFrost deletes the commitments of a key that can no longer be used.
func (f *Machine) sweepFrost(key string) { f.st.Frost.Sweep(key, f.st.Keys[key]) }

func recordsFrostCommitted(_ *Machine, c *entry.FrostCommitted, _ Result, r audit.Record) []audit.Record {
	r.Key, r.Version = c.Key, c.Version
	return []audit.Record{r}
}
