package fsm

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/keyquorum/keyquorum/consensus/audit"
)

// AuditKeyName is the cluster's own Ed25519 key that signs audit
// checkpoints. The leader creates it once the cluster is up; clients cannot
// name it (key names start with a letter or digit). When its generation
// fails (a member crashed during it), the leader tries again as
// "_audit.2", "_audit.3", ...; the first to become active is the audit key.
const AuditKeyName = "_audit"

// IsAuditKey reports whether name is one of the audit key's names.
func IsAuditKey(name string) bool {
	if name == AuditKeyName {
		return true
	}
	n, ok := strings.CutPrefix(name, AuditKeyName+".")
	_, err := strconv.Atoi(n)
	return ok && err == nil
}

// AuditKey returns the audit key: the active audit key created first, or
// else the newest attempt (generating or failed). ok is false before the
// leader asked for one; attempts counts the names used.
func (f *FSM) AuditKey() (k *Key, attempts int, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.auditKey()
}

func (f *FSM) auditKey() (*Key, int, bool) {
	var active, newest *Key
	n := 0
	for name, k := range f.st.Keys {
		if !IsAuditKey(name) {
			continue
		}
		n++
		if k.Primary != 0 && (active == nil || k.CreatedIndex < active.CreatedIndex) {
			active = k
		}
		if newest == nil || k.CreatedIndex > newest.CreatedIndex {
			newest = k
		}
	}
	switch {
	case active != nil:
		return active.clone(), n, true
	case newest != nil:
		return newest.clone(), n, true
	}
	return nil, 0, false
}

// AuditRequestPrefix starts the request ids of checkpoint signatures;
// clients may not use it.
const AuditRequestPrefix = "_audit-"

// Actors of commands that no client asked for.
const (
	// ActorSupervisor is the leader's supervisor (retries, failures).
	ActorSupervisor = "cluster:supervisor"
	// nodeActorPrefix names a member reporting its own work: "node:n1".
	nodeActorPrefix = "node:"
)

// NodeActor is the actor of a member's report.
func NodeActor(id string) string { return nodeActorPrefix + id }

// AuditConfig bounds what the replicated state keeps of the audit chain.
// Start from DefaultAuditConfig.
type AuditConfig struct {
	// Recent is how many of the newest records the state keeps, in memory
	// and in snapshots, for queries, checkpoints and filling a lagging
	// node's export; between Recent and 1.25×Recent are kept. The full
	// chain lives in each node's export files.
	Recent int
	// MaxDenials bounds the entries of one AuditDenials command.
	MaxDenials int
	_          struct{}
}

// DefaultAuditConfig returns the bounds kqd uses: 4,096 recent records
// (about 2 MiB of state) and 256 denial entries per command.
func DefaultAuditConfig() AuditConfig { return AuditConfig{Recent: 4096, MaxDenials: 256} }

// Validate reports a bound that is out of range.
func (c AuditConfig) Validate() error {
	if c.Recent < 64 || c.MaxDenials < 1 {
		return fmt.Errorf("consensus: audit bounds out of range (recent >= 64, max denials >= 1): %+v", c)
	}
	return nil
}

// AuditObserver is an Observer that also receives the audit records each
// applied entry appended, in chain order. It is called after Applied, on
// the same goroutine, with the same constraints: return quickly.
type AuditObserver interface {
	AuditAppended(recs []audit.Record)
}

// auditState is the replicated part of the audit chain.
type auditState struct {
	Seq            uint64         `json:"seq"`  // last record's seq, 0 before the first
	Head           string         `json:"head"` // last record's hash
	Recent         []audit.Record `json:"recent"`
	CheckpointSeq  uint64         `json:"checkpoint_seq"`
	CheckpointHead string         `json:"checkpoint_head"`
}

// EnableAudit makes every applied entry append audit records to a hash
// chain held in the replicated state. Call it before raft starts applying,
// with the same config on every replica: the chain is part of the state,
// so replicas that disagree on it diverge.
func (f *FSM) EnableAudit(cfg AuditConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.audit = &cfg
	return nil
}

// AuditHead is the chain's head as this replica has applied it.
type AuditHead struct {
	Seq            uint64
	Hash           string
	CheckpointSeq  uint64
	CheckpointHead string
}

// AuditHead returns the chain head; zero when audit is off or empty.
func (f *FSM) AuditHead() AuditHead {
	f.mu.RLock()
	defer f.mu.RUnlock()
	a := f.st.Audit
	if a == nil {
		return AuditHead{}
	}
	return AuditHead{Seq: a.Seq, Hash: a.Head, CheckpointSeq: a.CheckpointSeq, CheckpointHead: a.CheckpointHead}
}

// AuditRecent returns up to limit records with seq >= from that the state
// still keeps, oldest first.
func (f *FSM) AuditRecent(from uint64, limit int) []audit.Record {
	f.mu.RLock()
	defer f.mu.RUnlock()
	a := f.st.Audit
	if a == nil || len(a.Recent) == 0 || limit <= 0 {
		return nil
	}
	first := a.Recent[0].Seq
	i := 0
	if from > first {
		i = int(min(from-first, uint64(len(a.Recent))))
	}
	end := min(len(a.Recent), i+limit)
	return append([]audit.Record(nil), a.Recent[i:end]...)
}

// auditApplied derives the records of one applied entry and links them
// onto the chain. It runs under f.mu after apply, so it sees the state the
// entry left.
func (f *FSM) auditApplied(index uint64, cmd Command, res Result) []audit.Record {
	if f.audit == nil {
		return nil
	}
	recs := f.deriveRecords(cmd, res)
	if f.st.Audit == nil {
		f.st.Audit = &auditState{Head: audit.GenesisHash}
	}
	a := f.st.Audit
	for i := range recs {
		r := &recs[i]
		r.Index, r.Time = index, f.st.Time
		r.Actor = audit.Clean(r.Actor, audit.MaxActorLen)
		r.Op = audit.Clean(r.Op, audit.MaxFieldLen)
		r.Key = audit.Clean(r.Key, audit.MaxFieldLen)
		r.RequestID = audit.Clean(r.RequestID, audit.MaxFieldLen)
		r.Reason = audit.Clean(r.Reason, audit.MaxReasonLen)
		*r = audit.Link(a.Seq, a.Head, *r)
		a.Seq, a.Head = r.Seq, r.Hash
	}
	a.Recent = append(a.Recent, recs...)
	if keep := f.audit.Recent; len(a.Recent) > keep+keep/4 {
		a.Recent = append([]audit.Record(nil), a.Recent[len(a.Recent)-keep:]...)
	}
	return recs
}

// deriveRecords says what an entry did, in unlinked records. It holds no
// message, digest, signature share or secret: signed inputs appear only as
// their SHA-256.
func (f *FSM) deriveRecords(cmd Command, res Result) []audit.Record {
	r := audit.Record{Op: string(cmd.Type()), Actor: ActorSupervisor}
	r.Outcome, r.Reason = outcomeOf(res)
	fromSign := func(requestID string) {
		r.RequestID = requestID
		s := res.Sign
		if s == nil {
			s = f.st.Signs[requestID]
		}
		if s != nil {
			r.Key, r.Version, r.InputSHA256 = s.Key, s.Version, hex.EncodeToString(s.DigestHash[:])
		}
	}
	switch c := cmd.(type) {
	case *CreateKey:
		r.Op, r.Actor, r.Key, r.RequestID = "create_key", c.Actor, c.Name, c.RequestID
		if res.Key != nil {
			r.Version = 1
		}
	case *ShareStored:
		r.Actor, r.Key, r.Version = NodeActor(c.Node), c.Key, c.Version
		if k := res.Key; k != nil && res.Err == nil && !res.Duplicate {
			switch v := k.Version(c.Version); v.State {
			case KeyFailed:
				r.Outcome, r.Reason = audit.OutcomeFailed, v.Failure
			case KeyActive, KeyStaged:
				r.PublicKey = hex.EncodeToString(v.PublicKey)
			}
		}
	case *KeygenFailed:
		r.Actor, r.Key, r.Version = NodeActor(c.Node), c.Key, c.Version
		if res.Err == nil {
			r.Outcome, r.Reason = audit.OutcomeFailed, c.Reason
		}
	case *SignRequested:
		r.Op, r.Actor = "sign", c.Actor
		fromSign(c.RequestID)
		r.Key, r.InputSHA256 = c.Key, audit.InputHash(c.Digest)
		if k := f.st.Keys[c.Key]; r.Version == 0 && k != nil {
			r.Version = c.Version
			if r.Version == 0 {
				r.Version = k.Primary
			}
		}
	case *SignRetry:
		fromSign(c.RequestID)
		if res.Err == nil {
			r.Reason = c.Reason
		}
	case *SignCompleted:
		r.Actor = NodeActor(c.Node)
		fromSign(c.RequestID)
	case *SignFailed:
		fromSign(c.RequestID)
		if res.Err == nil {
			r.Outcome, r.Reason = audit.OutcomeFailed, c.Reason
		}
	case *PreParamsReady:
		r.Actor = NodeActor(c.Node)
	case *PresignRequested:
		r.Key = c.Key
	case *PresignReady:
		r.Actor = NodeActor(c.Node)
	case *PresignDiscarded:
		r.Actor = NodeActor(c.Node)
		if res.Err == nil {
			r.Reason = c.Reason
		}
	case *NodeBooted:
		r.Actor = NodeActor(c.Node)
	case *NodeSettings:
		r.Actor, r.Reason = NodeActor(c.Node), res.Note
	case *AttemptBlamed, *ClearBlame:
		f.blameRecord(cmd, res, &r)
	case *ProposeCeremony, *ApproveCeremony, *CancelCeremony, *Freeze, *Unfreeze:
		f.ceremonyRecord(cmd, res, &r)
	case *ClusterRecovered:
		r.Actor, r.RequestID, r.Reason = NodeActor(c.Node), c.RequestID, res.Note
	case *SetPolicy:
		r.Actor, r.Reason = c.Actor, res.Note
		if res.Err != nil {
			_, r.Reason = outcomeOf(res)
		}
	case *RevokePrincipal:
		r.Actor, r.Reason = c.Actor, res.Note
		if res.Err != nil {
			_, r.Reason = outcomeOf(res)
		}
	case *CreateTenant:
		r.Actor, r.Reason = c.Actor, res.Note
		if res.Err != nil {
			_, r.Reason = outcomeOf(res)
		}
	case *DeleteTenant:
		r.Actor, r.Reason = c.Actor, res.Note
		if res.Err != nil {
			_, r.Reason = outcomeOf(res)
		}
	case *TenantShredded:
		r.Actor, r.Version = NodeActor(c.Node), c.Generation
		r.Reason = "tenant " + c.Tenant + " data-encryption key shredded"
		if res.Err != nil {
			_, r.Reason = outcomeOf(res)
		}
	case *SetLimits:
		r.Actor, r.Reason = c.Actor, res.Note
		if res.Err != nil {
			_, r.Reason = outcomeOf(res)
		}
	case *FrostCommitted:
		r.Actor, r.Key, r.Version = NodeActor(c.Node), c.Key, c.Version
	case *IssueHandle:
		// The handle's id and token stay out: the chain is evidence, not
		// a place to find capabilities.
		r.Actor, r.Key, r.RequestID = c.Actor, c.Key, c.RequestID
		r.Reason = "purpose " + c.Purpose
		if res.Err != nil {
			_, r.Reason = outcomeOf(res)
		}
	case *RevokeHandle:
		r.Actor, r.RequestID = c.Actor, c.RequestID
		if res.Handle != nil {
			r.Key = res.Handle.Key
		}
	case *ChangeKey:
		r.Op, r.Actor, r.Key, r.RequestID, r.Version = "key_"+string(c.Op), c.Actor, c.Key, c.RequestID, max(res.Version, c.Version)
	case *ReshareKey:
		r.Op, r.Actor, r.Key, r.RequestID, r.Version = "key_reshare", c.Actor, c.Key, c.RequestID, max(res.Version, c.Version)
		if res.Err == nil {
			r.Reason = res.Note
		}
	case *SharesShredded:
		r.Actor, r.Key, r.Reason = NodeActor(c.Node), c.Key, res.Note
	case *ChangeMembers:
		r.Actor, r.Reason = c.Actor, res.Note
		if res.Err != nil {
			_, r.Reason = outcomeOf(res)
		}
	case *MemberStep:
		r.Reason = res.Note
	case *DestroyDue:
		r.Key, r.Version = c.Key, c.Version
	case *ShareDestroyed:
		r.Actor, r.Key, r.Version = NodeActor(c.Node), c.Key, c.Version
	case *ShareRefreshed:
		r.Actor, r.Key, r.Version = NodeActor(c.Node), c.Key, c.Version
	case *RefreshFailed:
		r.Actor, r.Key, r.Version = NodeActor(c.Node), c.Key, c.Version
		if res.Err == nil {
			r.Outcome, r.Reason = audit.OutcomeFailed, c.Reason
		}
	case *RaiseProtocol:
		r.Version, r.Reason = c.Version, fmt.Sprintf("active protocol raised to %d", c.Version)
		if res.Err != nil {
			_, r.Reason = outcomeOf(res)
		}
	case *AuditDenials:
		if res.Err != nil {
			r.Actor = NodeActor(c.Node)
			break
		}
		out := make([]audit.Record, 0, len(c.Entries))
		for _, e := range c.Entries {
			out = append(out, audit.Record{Actor: e.Actor, Op: e.Op, Outcome: audit.OutcomeDenied, Reason: e.Reason,
				Count: e.Count, WindowStart: c.WindowStart, WindowEnd: c.WindowEnd})
		}
		return out
	case *AuditCheckpoint:
		r.Op, r.Actor, r.Key, r.RequestID = audit.OpCheckpoint, c.Actor, c.Key, c.RequestID
		if k := res.Key; k != nil {
			r.Version = k.Primary
		}
		if res.Err == nil && !res.Duplicate {
			r.Checkpoint = &audit.Checkpoint{Seq: c.Seq, Head: c.Head, Signature: hex.EncodeToString(c.Signature)}
		}
	}
	return []audit.Record{r}
}

// outcomeOf classifies a result; commands that end work refine it.
func outcomeOf(res Result) (audit.Outcome, string) {
	switch {
	case res.Err == nil && res.Duplicate:
		return audit.OutcomeDuplicate, ""
	case res.Err == nil:
		return audit.OutcomeOK, ""
	case errors.Is(res.Err, ErrStale):
		return audit.OutcomeStale, res.Err.Error()
	default:
		return audit.OutcomeDenied, res.Err.Error()
	}
}

func (f *FSM) auditDenials(c *AuditDenials) Result {
	max := DefaultAuditConfig().MaxDenials
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

// auditCheckpoint records the audit key's signature over the head at
// c.Seq, once it verifies and the head matches the chain.
func (f *FSM) auditCheckpoint(c *AuditCheckpoint) Result {
	a := f.st.Audit
	if f.audit == nil || a == nil {
		return Result{Err: fmt.Errorf("audit checkpoint: %w: audit is off", ErrInvalidCommand)}
	}
	k, _, ok := f.auditKey()
	switch {
	case !ok || k.Name != c.Key:
		return Result{Err: fmt.Errorf("audit checkpoint by %q: %w: not the audit key", c.Key, ErrUnknownKey)}
	case k.State() != KeyActive:
		return Result{Err: fmt.Errorf("audit checkpoint: %w", ErrKeyNotActive)}
	case k.Algorithm != "ed25519":
		return Result{Err: fmt.Errorf("audit checkpoint: %w: the audit key must be ed25519", ErrInvalidCommand)}
	case c.Seq == a.CheckpointSeq && c.Head == a.CheckpointHead:
		return Result{Key: k.clone(), Duplicate: true}
	case c.Seq <= a.CheckpointSeq:
		return Result{Err: fmt.Errorf("audit checkpoint at seq %d (newest %d): %w", c.Seq, a.CheckpointSeq, ErrStale)}
	case c.Seq > a.Seq:
		return Result{Err: fmt.Errorf("audit checkpoint at seq %d beyond the head %d: %w", c.Seq, a.Seq, ErrInvalidCommand)}
	}
	var head string
	if n := len(a.Recent); n > 0 && c.Seq >= a.Recent[0].Seq {
		head = a.Recent[c.Seq-a.Recent[0].Seq].Hash
	} else {
		return Result{Err: fmt.Errorf("audit checkpoint at seq %d: %w: left the recent window", c.Seq, ErrStale)}
	}
	if head != c.Head {
		return Result{Err: fmt.Errorf("audit checkpoint at seq %d: %w: head does not match the chain", c.Seq, ErrInvalidCommand)}
	}
	if !f.crypto.Verify(k.Algorithm, k.PublicKey(), audit.CheckpointMessage(c.Seq, c.Head), c.Signature) {
		return Result{Err: fmt.Errorf("audit checkpoint at seq %d: %w", c.Seq, ErrBadSignature)}
	}
	a.CheckpointSeq, a.CheckpointHead = c.Seq, c.Head
	return Result{Key: k.clone()}
}
