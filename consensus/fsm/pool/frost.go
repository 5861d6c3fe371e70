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

// Publish adds batch: one member's new commitments for one key version
// and epoch, at least one, which the caller checked the member may make.
// The whole batch is refused if any part is wrong: an id must be new and
// short, a commitment of FrostCommitmentSize bytes, and the member's and
// the pool's bounds hold.
func (cs Commitments) Publish(batch []*Commitment) error {
	c := batch[0]
	seen := map[string]bool{}
	for _, cm := range batch {
		switch {
		case cm.ID == "" || len(cm.ID) > maxFrostIDLen:
			return fmt.Errorf("FROST commitments for %q: %w: id must be 1 to %d bytes", c.Key, fsmerr.ErrInvalidCommand, maxFrostIDLen)
		case len(cm.Commitment) != FrostCommitmentSize:
			return fmt.Errorf("FROST commitments for %q: %w: commitment %s is %d bytes, not %d", c.Key, fsmerr.ErrInvalidCommand, cm.ID, len(cm.Commitment), FrostCommitmentSize)
		case seen[cm.ID] || cs[cm.ID] != nil:
			return fmt.Errorf("FROST commitments for %q: %w: id %s taken", c.Key, fsmerr.ErrInvalidCommand, cm.ID)
		}
		seen[cm.ID] = true
	}
	if n := cs.count(c.Key, c.Version, c.Epoch, c.Node); n+len(batch) > MaxFrostPerMember {
		return fmt.Errorf("FROST commitments for %q v%d from %s: %w: %d held, %d more", c.Key, c.Version, c.Node, ErrTooManyFrost, n, len(batch))
	}
	if len(cs)+len(batch) > MaxFrostCommitments {
		return fmt.Errorf("FROST commitments for %q: %w", c.Key, ErrTooManyFrost)
	}
	for _, cm := range batch {
		cs[cm.ID] = cm
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
	for id, cm := range cs {
		if cm == nil || !ks.HasVersion(cm.Key, cm.Version) {
			return fmt.Errorf("FROST commitment %q names no key version", id)
		}
	}
	return nil
}
