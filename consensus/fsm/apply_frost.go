package fsm

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/audit"
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

// FROST commitment errors.
var (
	// ErrFrostUnavailable is returned when a sign request names a FROST
	// commitment that is unknown, used, of another member, key version,
	// epoch or process life; the leader then asks for the request again
	// without commitments.
	ErrFrostUnavailable = errors.New("FROST commitment unavailable")
	// ErrTooManyFrost is returned when a report would take a member's
	// commitments of a key version past MaxFrostPerMember, or the table
	// past MaxFrostCommitments.
	ErrTooManyFrost = errors.New("too many FROST commitments")
)

// apply records a member's new commitments. The whole entry is
// refused if any part is wrong: a member speaks only for its current
// process life (its nonces die with the process), for an Ed25519 version
// that can sign, at its current epoch, and never reuses an id.
func (c *FrostCommitted) apply(f *FSM, index uint64) Result {
	k, ok := f.st.Keys[c.Key]
	switch {
	case !ok:
		return Result{Err: fmt.Errorf("FROST commitments for %q: %w", c.Key, ErrUnknownKey)}
	case k.Algorithm != "ed25519":
		return Result{Err: fmt.Errorf("FROST commitments for %q: %w: not an Ed25519 key", c.Key, ErrInvalidCommand)}
	case !k.HasMember(c.Node):
		return Result{Err: fmt.Errorf("FROST commitments for %q from %s: %w: not a member", c.Key, c.Node, ErrInvalidCommand)}
	case c.Boot == "" || f.st.Boots[c.Node] != c.Boot:
		// An earlier life's nonces are gone; a later life has not booted
		// here yet. Either way these commitments name nonces no one holds.
		return Result{Err: fmt.Errorf("FROST commitments for %q from %s: %w: not its current process life", c.Key, c.Node, ErrStale)}
	case len(c.Commitments) == 0 || len(c.Commitments) > MaxFrostBatch:
		return Result{Err: fmt.Errorf("FROST commitments for %q: %w: 1 to %d per entry", c.Key, ErrInvalidCommand, MaxFrostBatch)}
	}
	if err := k.SignVersion(c.Version); err != nil {
		return Result{Err: fmt.Errorf("FROST commitments for %q: %w", c.Key, err)}
	}
	if v := k.Version(c.Version); v.Epoch != c.Epoch {
		return Result{Err: fmt.Errorf("FROST commitments for %q v%d: %w: epoch %d is not current", c.Key, c.Version, ErrStale, c.Epoch)}
	}
	seen := map[string]bool{}
	for _, cm := range c.Commitments {
		switch {
		case cm.ID == "" || len(cm.ID) > maxFrostIDLen:
			return Result{Err: fmt.Errorf("FROST commitments for %q: %w: id must be 1 to %d bytes", c.Key, ErrInvalidCommand, maxFrostIDLen)}
		case len(cm.Commitment) != FrostCommitmentSize:
			return Result{Err: fmt.Errorf("FROST commitments for %q: %w: commitment %s is %d bytes, not %d", c.Key, ErrInvalidCommand, cm.ID, len(cm.Commitment), FrostCommitmentSize)}
		case seen[cm.ID] || f.st.Frost[cm.ID] != nil:
			return Result{Err: fmt.Errorf("FROST commitments for %q: %w: id %s taken", c.Key, ErrInvalidCommand, cm.ID)}
		}
		seen[cm.ID] = true
	}
	if n := f.frostCount(c.Key, c.Version, c.Epoch, c.Node); n+len(c.Commitments) > MaxFrostPerMember {
		return Result{Err: fmt.Errorf("FROST commitments for %q v%d from %s: %w: %d held, %d more", c.Key, c.Version, c.Node, ErrTooManyFrost, n, len(c.Commitments))}
	}
	if len(f.st.Frost)+len(c.Commitments) > MaxFrostCommitments {
		return Result{Err: fmt.Errorf("FROST commitments for %q: %w", c.Key, ErrTooManyFrost)}
	}
	for _, cm := range c.Commitments {
		f.st.Frost[cm.ID] = &FrostCommitment{ID: cm.ID, Key: c.Key, Version: c.Version, Epoch: c.Epoch, Node: c.Node,
			Boot: c.Boot, Commitment: slices.Clone(cm.Commitment), Index: index}
	}
	return Result{Version: c.Version}
}

// consumeFrost checks that a sign request may use the commitments it names,
// one per committee member in committee order, and deletes them: from this
// entry on no other request can name them, and a member signs with a
// nonce only for the entry that consumed its commitment. It changes
// nothing when it refuses.
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
	epoch := k.Version(version).Epoch
	used := make([]FrostCommitment, len(c.Frost))
	for i, id := range c.Frost {
		cm, ok := f.st.Frost[id]
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: %s is unknown or used", ErrFrostUnavailable, id)
		case cm.Node != c.Committee[i]:
			return nil, fmt.Errorf("%w: %s is %s's, not %s's", ErrFrostUnavailable, id, cm.Node, c.Committee[i])
		case cm.Key != k.Name || cm.Version != version || cm.Epoch != epoch:
			return nil, fmt.Errorf("%w: %s belongs to another key, version or epoch", ErrFrostUnavailable, id)
		case f.st.Boots[cm.Node] != cm.Boot:
			return nil, fmt.Errorf("%w: %s is from an earlier life of %s", ErrFrostUnavailable, id, cm.Node)
		}
		used[i] = *cm.clone()
	}
	for _, id := range c.Frost {
		delete(f.st.Frost, id)
	}
	return used, nil
}

// dropFrostOf deletes every commitment of node: its nonces died with the
// process life that made them.
func (f *FSM) dropFrostOf(node string) {
	for id, cm := range f.st.Frost {
		if cm.Node == node {
			delete(f.st.Frost, id)
		}
	}
}

// sweepFrost deletes the commitments of a key that can no longer be used:
// their version stopped signing (retired, revoked, destroyed) or their
// epoch is not the version's (a refresh replaced the shares they were
// made with).
func (f *FSM) sweepFrost(key string) {
	k := f.st.Keys[key]
	for id, cm := range f.st.Frost {
		if cm.Key != key {
			continue
		}
		if k == nil || k.SignVersion(cm.Version) != nil || k.Version(cm.Version).Epoch != cm.Epoch {
			delete(f.st.Frost, id)
		}
	}
}

func (f *FSM) frostCount(key string, version, epoch uint32, node string) int {
	n := 0
	for _, cm := range f.st.Frost {
		if cm.Key == key && cm.Version == version && cm.Epoch == epoch && cm.Node == node {
			n++
		}
	}
	return n
}

// FrostCommitments returns copies of the unused commitments of a key
// version at epoch, oldest first.
func (f *FSM) FrostCommitments(key string, version, epoch uint32) []*FrostCommitment {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*FrostCommitment
	for _, cm := range f.st.Frost {
		if cm.Key == key && cm.Version == version && cm.Epoch == epoch {
			out = append(out, cm.clone())
		}
	}
	slices.SortFunc(out, func(a, b *FrostCommitment) int {
		return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// FrostIDsOf returns the ids of node's unused commitments and the index
// of the last entry applied, read together: a commitment absent at that
// index was consumed or discarded by an entry at or below it.
func (f *FSM) FrostIDsOf(node string) (map[string]bool, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	ids := map[string]bool{}
	for id, cm := range f.st.Frost {
		if cm.Node == node {
			ids[id] = true
		}
	}
	return ids, f.applied
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
