// Package auditchain is the replicated part of the audit chain: its head,
// the newest records the state keeps for queries, checkpoints and filling
// a lagging node's export, and the newest signed checkpoint. Every applied
// entry's records are linked onto it (package audit has the record and
// hash rules), so replicas that applied the same entries hold the same
// chain; the full chain lives in each node's export files.
//
// The package is pure, like the state machine that holds the chain.
package auditchain

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
)

// Config bounds what the replicated state keeps of the audit chain.
// Start from DefaultConfig.
type Config struct {
	// Recent is how many of the newest records the state keeps, in memory
	// and in snapshots, for queries, checkpoints and filling a lagging
	// node's export; between Recent and 1.25×Recent are kept. The full
	// chain lives in each node's export files.
	Recent int
	// MaxDenials bounds the entries of one AuditDenials command.
	MaxDenials int
	_          struct{}
}

// DefaultConfig returns the bounds kqd uses: 4,096 recent records (about
// 2 MiB of state) and 256 denial entries per command.
func DefaultConfig() Config { return Config{Recent: 4096, MaxDenials: 256} }

// Validate reports a bound that is out of range.
func (c Config) Validate() error {
	if c.Recent < 64 || c.MaxDenials < 1 {
		return fmt.Errorf("consensus: audit bounds out of range (recent >= 64, max denials >= 1): %+v", c)
	}
	return nil
}

// Chain is the replicated part of the audit chain; nil while audit is
// off or before the first record.
type Chain struct {
	Seq            uint64         `json:"seq"`  // last record's seq, 0 before the first
	Head           string         `json:"head"` // last record's hash
	Recent         []audit.Record `json:"recent"`
	CheckpointSeq  uint64         `json:"checkpoint_seq"`
	CheckpointHead string         `json:"checkpoint_head"`
}

// New returns an empty chain, whose head is the genesis hash.
func New() *Chain { return &Chain{Head: audit.GenesisHash} }

// Head is the chain's head as a replica has applied it.
type Head struct {
	Seq            uint64
	Hash           string
	CheckpointSeq  uint64
	CheckpointHead string
}

// Tip returns the chain's head; zero for a nil chain.
func (c *Chain) Tip() Head {
	if c == nil {
		return Head{}
	}
	return Head{Seq: c.Seq, Hash: c.Head, CheckpointSeq: c.CheckpointSeq, CheckpointHead: c.CheckpointHead}
}

// Link links the unlinked records of the entry at index, applied at
// replicated time now, onto the chain, with their fields cut to the
// bounds of package audit, and keeps the newest of them within cfg. It
// returns the linked records.
func (c *Chain) Link(index uint64, now int64, recs []audit.Record, cfg Config) []audit.Record {
	for i := range recs {
		r := &recs[i]
		r.Index, r.Time = index, now
		r.Actor = audit.Clean(r.Actor, audit.MaxActorLen)
		r.Op = audit.Clean(r.Op, audit.MaxFieldLen)
		r.Key = audit.Clean(r.Key, audit.MaxFieldLen)
		r.RequestID = audit.Clean(r.RequestID, audit.MaxFieldLen)
		r.Reason = audit.Clean(r.Reason, audit.MaxReasonLen)
		*r = audit.Link(c.Seq, c.Head, *r)
		c.Seq, c.Head = r.Seq, r.Hash
	}
	c.Recent = append(c.Recent, recs...)
	if keep := cfg.Recent; len(c.Recent) > keep+keep/4 {
		c.Recent = append([]audit.Record(nil), c.Recent[len(c.Recent)-keep:]...)
	}
	return recs
}

// Since returns up to limit records with seq >= from that the chain still
// keeps, oldest first.
func (c *Chain) Since(from uint64, limit int) []audit.Record {
	if c == nil || len(c.Recent) == 0 || limit <= 0 {
		return nil
	}
	first := c.Recent[0].Seq
	i := 0
	if from > first {
		i = int(min(from-first, uint64(len(c.Recent))))
	}
	end := min(len(c.Recent), i+limit)
	return append([]audit.Record(nil), c.Recent[i:end]...)
}

// CheckCheckpoint checks a checkpoint of the head at seq against the
// chain, before its signature is checked: the newest checkpoint again is
// a duplicate; an older one is stale; one beyond the head, or whose head
// is not the chain's at seq, is invalid; one that left the kept records
// cannot be checked and is stale.
func (c *Chain) CheckCheckpoint(seq uint64, head string) (duplicate bool, err error) {
	switch {
	case seq == c.CheckpointSeq && head == c.CheckpointHead:
		return true, nil
	case seq <= c.CheckpointSeq:
		return false, fmt.Errorf("audit checkpoint at seq %d (newest %d): %w", seq, c.CheckpointSeq, fsmerr.ErrStale)
	case seq > c.Seq:
		return false, fmt.Errorf("audit checkpoint at seq %d beyond the head %d: %w", seq, c.Seq, fsmerr.ErrInvalidCommand)
	}
	if len(c.Recent) == 0 || seq < c.Recent[0].Seq {
		return false, fmt.Errorf("audit checkpoint at seq %d: %w: left the recent window", seq, fsmerr.ErrStale)
	}
	if c.Recent[seq-c.Recent[0].Seq].Hash != head {
		return false, fmt.Errorf("audit checkpoint at seq %d: %w: head does not match the chain", seq, fsmerr.ErrInvalidCommand)
	}
	return false, nil
}

// Checkpointed records a checked and verified checkpoint as the newest.
func (c *Chain) Checkpointed(seq uint64, head string) {
	c.CheckpointSeq, c.CheckpointHead = seq, head
}
