package pool

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
)

// Bounds of the FROST commitment pool. A member keeps at most
// MaxFrostPerMember unused commitments per key version and epoch; one
// entry carries at most MaxFrostBatch; the pool holds at most
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

// FROST commitment errors.
var (
	// ErrFrostUnavailable is returned when a sign request names a FROST
	// commitment that is unknown, used, of another member, key version,
	// epoch or process life; the leader then asks for the request again
	// without commitments.
	ErrFrostUnavailable = errors.New("FROST commitment unavailable")
	// ErrTooManyFrost is returned when a report would take a member's
	// commitments of a key version past MaxFrostPerMember, or the pool
	// past MaxFrostCommitments.
	ErrTooManyFrost = errors.New("too many FROST commitments")
)

// Commitment is the replicated record of one unused FROST nonce
// commitment (RFC 9591 round one), and, in a signing record, of one the
// request consumed. The nonces behind it stay in its member's memory; it
// may be named by one sign request, ever.
type Commitment struct {
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

// Clone returns a deep copy.
func (c *Commitment) Clone() *Commitment {
	d := *c
	d.Commitment = slices.Clone(c.Commitment)
	return &d
}

// Commitments is the FROST commitment pool, by id.
type Commitments map[string]*Commitment

// Report is one member's new commitments (FrostCommitted): made during
// its process life Boot for signing with Key's Version at share Epoch,
// published by entry Index. Current is the node's process life as the log
// has it.
type Report struct {
	Key            *keys.Key
	Version, Epoch uint32
	Node           string
	Boot, Current  string
	Index          uint64
	IDs            []string
	Commitments    [][]byte // one per id, SerializeScalar(i) || D_i || E_i
}

// Publish adds a member's new commitments. The whole report is refused
// if any part is wrong: a member speaks only for its current process life
// (its nonces die with the process), for an Ed25519 version that can
// sign, at its current epoch, and never reuses an id; the member's and the
// pool's bounds hold.
func (cs Commitments) Publish(r *Report) error {
	k, key := r.Key, r.Key.Name
	switch {
	case k.Algorithm != "ed25519":
		return fmt.Errorf("FROST commitments for %q: %w: not an Ed25519 key", key, fsmerr.ErrInvalidCommand)
	case !k.HasMember(r.Node):
		return fmt.Errorf("FROST commitments for %q from %s: %w: not a member", key, r.Node, fsmerr.ErrInvalidCommand)
	case r.Boot == "" || r.Current != r.Boot:
		// An earlier life's nonces are gone; a later life has not booted
		// here yet. Either way these commitments name nonces no one holds.
		return fmt.Errorf("FROST commitments for %q from %s: %w: not its current process life", key, r.Node, fsmerr.ErrStale)
	case len(r.IDs) == 0 || len(r.IDs) > MaxFrostBatch:
		return fmt.Errorf("FROST commitments for %q: %w: 1 to %d per entry", key, fsmerr.ErrInvalidCommand, MaxFrostBatch)
	}
	if err := k.SignVersion(r.Version); err != nil {
		return fmt.Errorf("FROST commitments for %q: %w", key, err)
	}
	if v := k.Version(r.Version); v.Epoch != r.Epoch {
		return fmt.Errorf("FROST commitments for %q v%d: %w: epoch %d is not current", key, r.Version, fsmerr.ErrStale, r.Epoch)
	}
	seen := map[string]bool{}
	for i, id := range r.IDs {
		switch {
		case id == "" || len(id) > maxFrostIDLen:
			return fmt.Errorf("FROST commitments for %q: %w: id must be 1 to %d bytes", key, fsmerr.ErrInvalidCommand, maxFrostIDLen)
		case len(r.Commitments[i]) != FrostCommitmentSize:
			return fmt.Errorf("FROST commitments for %q: %w: commitment %s is %d bytes, not %d", key, fsmerr.ErrInvalidCommand, id, len(r.Commitments[i]), FrostCommitmentSize)
		case seen[id] || cs[id] != nil:
			return fmt.Errorf("FROST commitments for %q: %w: id %s taken", key, fsmerr.ErrInvalidCommand, id)
		}
		seen[id] = true
	}
	if n := cs.count(key, r.Version, r.Epoch, r.Node); n+len(r.IDs) > MaxFrostPerMember {
		return fmt.Errorf("FROST commitments for %q v%d from %s: %w: %d held, %d more", key, r.Version, r.Node, ErrTooManyFrost, n, len(r.IDs))
	}
	if len(cs)+len(r.IDs) > MaxFrostCommitments {
		return fmt.Errorf("FROST commitments for %q: %w", key, ErrTooManyFrost)
	}
	for i, id := range r.IDs {
		cs[id] = &Commitment{ID: id, Key: key, Version: r.Version, Epoch: r.Epoch, Node: r.Node,
			Boot: r.Boot, Commitment: slices.Clone(r.Commitments[i]), Index: r.Index}
	}
	return nil
}

// Consume checks that a sign request with key version at epoch may use
// the commitments ids names, one per member of committee in committee
// order, each made in its member's current process life (boots), and
// deletes them: from this entry on no other request can name them, and a
// member signs with a nonce only for the entry that consumed its
// commitment. It changes nothing when it refuses.
func (cs Commitments) Consume(ids, committee []string, key string, version, epoch uint32, boots map[string]string) ([]Commitment, error) {
	if len(ids) != len(committee) {
		return nil, fmt.Errorf("%w: %d commitments for a committee of %d", ErrFrostUnavailable, len(ids), len(committee))
	}
	used := make([]Commitment, len(ids))
	for i, id := range ids {
		cm, ok := cs[id]
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: %s is unknown or used", ErrFrostUnavailable, id)
		case cm.Node != committee[i]:
			return nil, fmt.Errorf("%w: %s is %s's, not %s's", ErrFrostUnavailable, id, cm.Node, committee[i])
		case cm.Key != key || cm.Version != version || cm.Epoch != epoch:
			return nil, fmt.Errorf("%w: %s belongs to another key, version or epoch", ErrFrostUnavailable, id)
		case boots[cm.Node] != cm.Boot:
			return nil, fmt.Errorf("%w: %s is from an earlier life of %s", ErrFrostUnavailable, id, cm.Node)
		}
		used[i] = *cm.Clone()
	}
	for _, id := range ids {
		delete(cs, id)
	}
	return used, nil
}

// DropMember deletes every commitment of node: its nonces died with the
// process life that made them.
func (cs Commitments) DropMember(node string) {
	for id, cm := range cs {
		if cm.Node == node {
			delete(cs, id)
		}
	}
}

// Sweep deletes the commitments of key that can no longer be used: their
// version stopped signing (retired, revoked, destroyed) or their epoch is
// not the version's (a refresh replaced the shares they were made with).
// k is the key's record, nil when it is gone.
func (cs Commitments) Sweep(key string, k *keys.Key) {
	for id, cm := range cs {
		if cm.Key != key {
			continue
		}
		if k == nil || k.SignVersion(cm.Version) != nil || k.Version(cm.Version).Epoch != cm.Epoch {
			delete(cs, id)
		}
	}
}

func (cs Commitments) count(key string, version, epoch uint32, node string) int {
	n := 0
	for _, cm := range cs {
		if cm.Key == key && cm.Version == version && cm.Epoch == epoch && cm.Node == node {
			n++
		}
	}
	return n
}

// Of returns copies of the unused commitments of a key version at epoch,
// oldest first.
func (cs Commitments) Of(key string, version, epoch uint32) []*Commitment {
	var out []*Commitment
	for _, cm := range cs {
		if cm.Key == key && cm.Version == version && cm.Epoch == epoch {
			out = append(out, cm.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *Commitment) int {
		return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// IDsOf returns the ids of node's unused commitments.
func (cs Commitments) IDsOf(node string) map[string]bool {
	ids := map[string]bool{}
	for id, cm := range cs {
		if cm.Node == node {
			ids[id] = true
		}
	}
	return ids
}

// Check refuses a restored pool that applying a later entry would panic
// on: a null commitment, or one that names no key version of ks.
func (cs Commitments) Check(ks keys.Table) error {
	return checkVersions(cs, ks, "FROST commitment")
}

func (cm *Commitment) keyVersion() (string, uint32) { return cm.Key, cm.Version }
