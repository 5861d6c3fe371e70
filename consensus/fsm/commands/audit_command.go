package commands

import (
	"encoding/hex"
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
)

// auditCommands carry what the audit chain records besides applied
// entries: members' refusals before the log, and signed checkpoints.
func auditCommands() []commandSpec {
	return []commandSpec{
		spec(protover.V1, applyAuditDenials, recordsAuditDenials),
		spec(protover.V1, applyAuditCheckpoint, recordsAuditCheckpoint),
	}
}

// recordsAuditDenials makes one denied record per entry; a refused report
// is one record of its own.
func recordsAuditDenials(_ *Machine, c *entry.AuditDenials, res Result, r audit.Record) []audit.Record {
	if res.Err != nil {
		return []audit.Record{r}
	}
	out := make([]audit.Record, 0, len(c.Entries))
	for _, e := range c.Entries {
		out = append(out, audit.Record{Actor: e.Actor, Op: e.Op, Outcome: audit.OutcomeDenied, Reason: e.Reason,
			Count: e.Count, WindowStart: c.WindowStart, WindowEnd: c.WindowEnd})
	}
	return out
}

func recordsAuditCheckpoint(_ *Machine, c *entry.AuditCheckpoint, res Result, r audit.Record) []audit.Record {
	r.Op, r.Actor, r.Key, r.RequestID = audit.OpCheckpoint, c.Actor, c.Key, c.RequestID
	if k := res.Key; k != nil {
		r.Version = k.Primary
	}
	if res.Err == nil && !res.Duplicate {
		r.Checkpoint = &audit.Checkpoint{Seq: c.Seq, Head: c.Head, Signature: hex.EncodeToString(c.Signature)}
	}
	return []audit.Record{r}
}

func applyAuditDenials(f *Machine, c *entry.AuditDenials, _ uint64) Result {
	max := auditchain.DefaultConfig().MaxDenials
	if f.audit != nil {
		max = f.audit.MaxDenials
	}
	if len(c.Entries) == 0 || len(c.Entries) > max {
		return Result{Err: fmt.Errorf("audit denials from %s: %w: %d entries, want 1 to %d", c.Node, ErrInvalidCommand, len(c.Entries), max)}
	}
	for _, e := range c.Entries {
		if e.Count == 0 {
			return Result{Err: fmt.Errorf("audit denials from %s: %w: an entry counts nothing", c.Node, ErrInvalidCommand)}
		}
	}
	return Result{}
}

// applyAuditCheckpoint records the audit key's signature over the head at
// c.Seq, once it verifies and the head matches the chain.
func applyAuditCheckpoint(f *Machine, c *entry.AuditCheckpoint, _ uint64) Result {
	a := f.st.Audit
	if f.audit == nil || a == nil {
		return Result{Err: fmt.Errorf("audit checkpoint: %w: audit is off", ErrInvalidCommand)}
	}
	k, _, ok := f.AuditKey()
	switch {
	case !ok || k.Name != c.Key:
		return Result{Err: fmt.Errorf("audit checkpoint by %q: %w: not the audit key", c.Key, ErrUnknownKey)}
	case k.State() != keys.Active:
		return Result{Err: fmt.Errorf("audit checkpoint: %w", ErrKeyNotActive)}
	case k.Algorithm != "ed25519":
		return Result{Err: fmt.Errorf("audit checkpoint: %w: the audit key must be ed25519", ErrInvalidCommand)}
	}
	switch dup, err := a.CheckCheckpoint(c.Seq, c.Head); {
	case err != nil:
		return Result{Err: err}
	case dup:
		return Result{Key: k.Clone(), Duplicate: true}
	}
	if !f.crypto.Verify(k.Algorithm, k.PublicKey(), audit.CheckpointMessage(c.Seq, c.Head), c.Signature) {
		return Result{Err: fmt.Errorf("audit checkpoint at seq %d: %w", c.Seq, ErrBadSignature)}
	}
	a.Checkpointed(c.Seq, c.Head)
	return Result{Key: k.Clone()}
}
