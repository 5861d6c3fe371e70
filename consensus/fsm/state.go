package fsm

import (
	"errors"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/blame"
	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/fsm/settings"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// The key table's types are package keys'; these names keep the FSM's
// read API (Key, Keys, Result.Key) in one vocabulary for its many callers.
type (
	// Key is the replicated record of one key and all its versions.
	Key = keys.Key
	// Version is one generation of a key.
	Version = keys.Version
	// KeyState is the lifecycle state of a key version.
	KeyState = keys.State
)

// Key version states (package keys explains them).
const (
	KeyGenerating = keys.Generating
	KeyStaged     = keys.Staged
	KeyActive     = keys.Active
	KeyRetired    = keys.Retired
	KeyRevoked    = keys.Revoked
	KeyDestroyed  = keys.Destroyed
	KeyFailed     = keys.Failed
)

// DefaultPurpose is the purpose of a key created without any.
const DefaultPurpose = keys.DefaultPurpose

// SignState is the state of one signing request.
type SignState string

// Signing request states.
const (
	SignStatePending   SignState = "pending"
	SignStateCompleted SignState = "completed"
	SignStateFailed    SignState = "failed"
)

// Sign is the replicated record of one signing request, keyed by request id.
// While pending it holds the digest, which the committee needs; once done it
// keeps only the digest's hash, enough to recognise a duplicate request.
type Sign struct {
	RequestID  string    `json:"request_id"`
	Key        string    `json:"key"`
	Version    uint32    `json:"version"`
	DigestHash [32]byte  `json:"digest_hash"`
	Digest     []byte    `json:"digest,omitempty"`
	State      SignState `json:"state"`
	Attempt    uint32    `json:"attempt"`
	Committee  []string  `json:"committee"`
	// SessionIndex is the log index of the entry that started the current
	// attempt; with the request id and attempt it derives the session id.
	SessionIndex uint64 `json:"session_index"`
	Signature    []byte `json:"signature,omitempty"`
	Signer       string `json:"signer,omitempty"` // member whose report was recorded
	Reason       string `json:"reason,omitempty"`
	Index        uint64 `json:"index"` // log index of the entry that ended the request
	Actor        string `json:"actor"`
	Time         int64  `json:"time"`
	// Ended is the replicated time the request ended; the de-duplication
	// age counts from it, so a retry that comes soon after a long request
	// still finds its outcome. Records from before it was kept have 0.
	Ended  int64  `json:"ended,omitempty"`
	Presig string `json:"presig,omitempty"` // presignature the current attempt consumes
	// Frost is the FROST commitments the current attempt consumed, one per
	// committee member in committee order; empty on the tss-lib path.
	Frost []FrostCommitment `json:"frost,omitempty"`
	// Epoch is the share epoch the current attempt signs with.
	Epoch uint32 `json:"epoch"`
	// HandleProof is the SHA-256 of the handle's token the request was made
	// with; a retry must present the same.
	HandleProof [32]byte `json:"handle_proof"`
	// Dual names the companion request that signs the same input with the
	// dual-sign version; Parent names the request a companion belongs to.
	Dual   string `json:"dual,omitempty"`
	Parent string `json:"parent,omitempty"`
}

func (s *Sign) clone() *Sign {
	c := *s
	c.Digest = slices.Clone(s.Digest)
	c.Committee = slices.Clone(s.Committee)
	c.Signature = slices.Clone(s.Signature)
	c.Frost = slices.Clone(s.Frost)
	for i := range c.Frost {
		c.Frost[i] = *s.Frost[i].clone()
	}
	return &c
}

// state is everything the FSM replicates; a snapshot is this value as JSON.
type state struct {
	Keys      map[string]*Key  `json:"keys"`
	Signs     map[string]*Sign `json:"signs"`
	SignOrder []string         `json:"sign_order"` // finished request ids, oldest first, for eviction
	// pending indexes the pending requests of Signs, so that a revocation
	// and the supervisor never scan the whole table (up to MaxSignRecords).
	// It is derived from Signs: not in snapshots, rebuilt on restore.
	pending   map[string]bool
	PreParams map[string]bool    `json:"preparams"`
	Presigs   map[string]*Presig `json:"presigs"`
	Boots     map[string]string  `json:"boots"` // node -> its current process life
	// BootIndex is the log index of each node's last NodeBooted: a signing
	// attempt started before it lost that member's session.
	BootIndex map[string]uint64 `json:"boot_index,omitempty"`
	// Frost holds the published, unused FROST commitments by id.
	Frost   map[string]*FrostCommitment `json:"frost,omitempty"`
	Handles map[string]*Handle          `json:"handles"`
	// Requests de-duplicates lifecycle requests by request id; RequestOrder
	// lists them oldest first for eviction by count and age.
	Requests     map[string]*Request `json:"requests"`
	RequestOrder []string            `json:"request_order"`
	// Time is the largest command time applied; the FSM never moves it back,
	// so a leader with a slow clock cannot rewind replicated time.
	Time int64 `json:"time"`
	// Audit is the audit chain's head and recent records; nil while audit
	// is off (see FSM.EnableAudit).
	Audit *auditState `json:"audit,omitempty"`
	// Protocol is the cluster's active protocol version (0 before the
	// first RaiseProtocol: ProtocolV1); Supports holds, by member, the
	// newest version each reported at its last start.
	Protocol uint32            `json:"protocol,omitempty"`
	Supports map[string]uint32 `json:"supports,omitempty"`
	// Limits are the replicated limits, nil until the first SetLimits;
	// Settings holds each member's last reported settings.
	Limits   *settings.Limits `json:"limits,omitempty"`
	Settings settings.Reports `json:"settings,omitempty"`
	// Blame holds, by member, the accusations against it (package blame).
	Blame blame.Ledger `json:"blame,omitempty"`
	// Policy is the cluster policy in force, nil under the bootstrap
	// policy (apply_policy.go).
	Policy *PolicyState `json:"policy,omitempty"`
	// Members is the replicated membership, nil while it is the bootstrap
	// set of cluster.yaml (package membership).
	Members membership.Table `json:"members,omitempty"`
	// Ceremonies holds the kept ceremonies by id; Frozen the freeze in
	// force (ceremony.go).
	Ceremonies map[string]*Ceremony `json:"ceremonies,omitempty"`
	Frozen     *Frozen              `json:"frozen,omitempty"`
	// TenantGens holds each tenant's generation (the deletions it went
	// through) and TenantDeletions its last deletion (apply_tenant.go).
	TenantGens      map[string]uint32          `json:"tenant_gens,omitempty"`
	TenantDeletions map[string]*TenantDeletion `json:"tenant_deletions,omitempty"`
}

// protocol returns the active protocol version.
func (st *state) protocol() uint32 { return max(st.Protocol, ProtocolV1) }

func newState() *state {
	return &state{Keys: map[string]*Key{}, Signs: map[string]*Sign{}, PreParams: map[string]bool{},
		Presigs: map[string]*Presig{}, Boots: map[string]string{}, Frost: map[string]*FrostCommitment{}, Supports: map[string]uint32{}, BootIndex: map[string]uint64{},
		Settings: settings.Reports{}, Blame: blame.Ledger{}, Handles: map[string]*Handle{}, Requests: map[string]*Request{}, pending: map[string]bool{}}
}

// UnmarshalJSON decodes a snapshot's state and refuses one that applying a
// later entry would panic on: a null table or entry, or a key whose
// versions are missing or out of order. A snapshot comes from the leader;
// a corrupt one must fail Restore, not crash the replicas that install it.
func (st *state) UnmarshalJSON(data []byte) error {
	type plain state // state's fields without this method
	// A field this build does not know is refused, not dropped: a snapshot
	// from a newer protocol must stop this replica, not be half-restored.
	if err := strictJSON(data, (*plain)(st)); err != nil {
		return err
	}
	if st.Protocol > MaxProtocol {
		return fmt.Errorf("snapshot of a cluster at protocol %d, this build supports up to %d: %w", st.Protocol, MaxProtocol, ErrUnsupportedProtocol)
	}
	if st.Supports == nil {
		st.Supports = map[string]uint32{}
	}
	if st.Settings == nil {
		st.Settings = settings.Reports{}
	}
	if st.Blame == nil {
		st.Blame = blame.Ledger{}
	}
	if err := st.Blame.Check(); err != nil {
		return err
	}
	if st.BootIndex == nil {
		st.BootIndex = map[string]uint64{}
	}
	if st.Keys == nil || st.Signs == nil || st.PreParams == nil || st.Presigs == nil || st.Boots == nil ||
		st.Handles == nil || st.Requests == nil {
		return errors.New("a table is null")
	}
	for name, k := range st.Keys {
		if k == nil || len(k.Versions) == 0 {
			return fmt.Errorf("key %q has no versions", name)
		}
		for i, v := range k.Versions {
			if v == nil || v.Number != uint32(i+1) {
				return fmt.Errorf("key %q: version %d is missing", name, i+1)
			}
		}
		for _, fh := range k.Former {
			if fh == nil {
				return fmt.Errorf("key %q: a former holder is null", name)
			}
		}
	}
	for id, s := range st.Signs {
		switch {
		case s == nil:
			return fmt.Errorf("signing request %q is null", id)
		case s.State == SignStatePending && (st.Keys[s.Key] == nil || st.Keys[s.Key].Version(s.Version) == nil):
			return fmt.Errorf("pending signing request %q names no key version", id)
		}
	}
	for id, p := range st.Presigs {
		if p == nil || st.Keys[p.Key] == nil || st.Keys[p.Key].Version(p.Version) == nil {
			return fmt.Errorf("presignature %q names no key version", id)
		}
	}
	if st.Frost == nil {
		st.Frost = map[string]*FrostCommitment{} // a snapshot from before FROST
	}
	for id, cm := range st.Frost {
		if cm == nil || st.Keys[cm.Key] == nil || st.Keys[cm.Key].Version(cm.Version) == nil {
			return fmt.Errorf("FROST commitment %q names no key version", id)
		}
	}
	if err := st.Members.Check(); err != nil {
		return err
	}
	for id, h := range st.Handles {
		if h == nil {
			return fmt.Errorf("handle %q is null", id)
		}
	}
	for id, r := range st.Requests {
		if r == nil {
			return fmt.Errorf("request %q is null", id)
		}
	}
	for id, c := range st.Ceremonies {
		if c == nil {
			return fmt.Errorf("ceremony %q is null", id)
		}
	}
	for t, d := range st.TenantDeletions {
		if d == nil {
			return fmt.Errorf("deletion of tenant %q is null", t)
		}
	}
	if ps := st.Policy; ps != nil && (ps.Policy == nil || ps.Policy.Normalize() != nil) {
		return errors.New("the policy is null or invalid")
	}
	return nil
}

// indexPending rebuilds the pending index from Signs.
func (st *state) indexPending() {
	st.pending = map[string]bool{}
	for id, s := range st.Signs {
		if s.State == SignStatePending {
			st.pending[id] = true
		}
	}
}

// Errors returned as the result of applying a command. They are part of the
// replicated outcome: every replica returns the same one for the same entry.
var (
	// ErrUnknownCommand is returned for a log entry of an unknown type.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrKeyExists is returned when a key name is taken by another request.
	ErrKeyExists = keys.ErrKeyExists
	// ErrUnknownKey is returned when no key has the given name.
	ErrUnknownKey = fsmerr.ErrUnknownKey
	// ErrKeyNotActive is returned when a key is still generating or failed.
	ErrKeyNotActive = keys.ErrKeyNotActive
	// ErrRequestConflict is returned when a request id is reused with other input.
	ErrRequestConflict = fsmerr.ErrRequestConflict
	// ErrInvalidCommand is returned for a command whose fields break an invariant.
	ErrInvalidCommand = fsmerr.ErrInvalidCommand
	// ErrPreParamsNotReady is returned when an ECDSA key is requested before
	// every member holds pre-parameters.
	ErrPreParamsNotReady = keys.ErrPreParamsNotReady
	// ErrTooManyPending is returned when the pending signing table is full.
	ErrTooManyPending = policy.ErrTooManyPending
	// ErrTooManyKeys is returned when the key table is full.
	ErrTooManyKeys = policy.ErrTooManyKeys
	// ErrStale is returned for a report about an attempt or version that has moved on.
	ErrStale = fsmerr.ErrStale
	// ErrPresigUnavailable is returned when a sign request names a
	// presignature that is unknown, used, not ready, expired, or of another
	// key, version or committee.
	ErrPresigUnavailable = errors.New("presignature unavailable")
	// ErrTooManyPresigs is returned when a key's presignature pool is full.
	ErrTooManyPresigs = policy.ErrTooManyPresigs
	// ErrBadSignature is returned when a reported signature does not verify.
	ErrBadSignature = keys.ErrBadSignature
	// ErrUnknownVersion is returned when a key has no such version.
	ErrUnknownVersion = keys.ErrUnknownVersion
	// ErrVersionUnusable is returned when a version's state or a floor
	// forbids the operation.
	ErrVersionUnusable = keys.ErrVersionUnusable
	// ErrBadTransition is returned for a lifecycle change the version's
	// state or the key's policy does not allow.
	ErrBadTransition = fsmerr.ErrBadTransition
	// ErrHandleDenied is returned when a handle does not grant the request:
	// unknown, expired, revoked, used up, or for another key or purpose.
	ErrHandleDenied = errors.New("handle denied")
	// ErrHandleExists is returned when a handle id is taken by another
	// request; clients that make their own tokens choose the id.
	ErrHandleExists = errors.New("handle id already exists")
	// ErrTooManyHandles is returned when the handle table is full.
	ErrTooManyHandles = policy.ErrTooManyHandles
)
