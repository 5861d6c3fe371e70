package fsm

import (
	"errors"
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/consensus/fsm/blame"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/dedup"
	"github.com/keyquorum/keyquorum/consensus/fsm/freeze"
	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
	"github.com/keyquorum/keyquorum/consensus/fsm/handles"
	"github.com/keyquorum/keyquorum/consensus/fsm/inforce"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/fsm/settings"
	"github.com/keyquorum/keyquorum/consensus/fsm/signs"
	"github.com/keyquorum/keyquorum/consensus/fsm/strictjson"
	"github.com/keyquorum/keyquorum/consensus/fsm/tenants"
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

// The signing table's types are package signs'; as with Key, these names
// keep the FSM's read API (Sign, PendingSigns, Result.Sign) in one
// vocabulary for its callers.
type (
	// Sign is the replicated record of one signing request.
	Sign = signs.Sign
	// SignState is the state of one signing request.
	SignState = signs.State
)

// Signing request states.
const (
	SignStatePending   = signs.Pending
	SignStateCompleted = signs.Completed
	SignStateFailed    = signs.Failed
)

// state is everything the FSM replicates; a snapshot is this value as JSON.
type state struct {
	Keys keys.Table `json:"keys"`
	// Records are the signing requests (package signs).
	signs.Records
	PreParams map[string]bool   `json:"preparams"`
	Presigs   pool.Presigs      `json:"presigs"`
	Boots     map[string]string `json:"boots"` // node -> its current process life
	// BootIndex is the log index of each node's last NodeBooted: a signing
	// attempt started before it lost that member's session.
	BootIndex map[string]uint64 `json:"boot_index,omitempty"`
	// Frost holds the published, unused FROST commitments by id.
	Frost   pool.Commitments `json:"frost,omitempty"`
	Handles handles.Table    `json:"handles"`
	// Table de-duplicates lifecycle requests by request id (package dedup).
	dedup.Table
	// Time is the largest command time applied; the FSM never moves it back,
	// so a leader with a slow clock cannot rewind replicated time.
	Time int64 `json:"time"`
	// Audit is the audit chain's head and recent records; nil while audit
	// is off (see FSM.EnableAudit).
	Audit *auditchain.Chain `json:"audit,omitempty"`
	// Protocol is the cluster's active protocol version (0 before the
	// first RaiseProtocol: ProtocolV1); Supports holds, by member, the
	// newest version each reported at its last start.
	Protocol uint32            `json:"protocol,omitempty"`
	Supports protover.Supports `json:"supports,omitempty"`
	// Limits are the replicated limits, nil until the first SetLimits;
	// Settings holds each member's last reported settings.
	Limits   *settings.Limits `json:"limits,omitempty"`
	Settings settings.Reports `json:"settings,omitempty"`
	// Blame holds, by member, the accusations against it (package blame).
	Blame blame.Ledger `json:"blame,omitempty"`
	// Policy is the cluster policy in force, nil under the bootstrap
	// policy (package inforce).
	Policy *inforce.Record `json:"policy,omitempty"`
	// Members is the replicated membership, nil while it is the bootstrap
	// set of cluster.yaml (package membership).
	Members membership.Table `json:"members,omitempty"`
	// Ceremonies holds the kept ceremonies by id; Frozen the freeze in
	// force (packages ceremony and freeze).
	Ceremonies ceremony.Book  `json:"ceremonies,omitempty"`
	Frozen     *freeze.Frozen `json:"frozen,omitempty"`
	// Registry holds each tenant's generation and last deletion (package
	// tenants).
	tenants.Registry
}

// protocol returns the active protocol version.
func (st *state) protocol() uint32 { return protover.Active(st.Protocol) }

func newState() *state {
	return &state{Keys: keys.Table{}, Records: signs.NewRecords(), PreParams: map[string]bool{},
		Presigs: pool.Presigs{}, Boots: map[string]string{}, Frost: pool.Commitments{}, Supports: protover.Supports{}, BootIndex: map[string]uint64{},
		Settings: settings.Reports{}, Blame: blame.Ledger{}, Handles: handles.Table{}, Table: dedup.Table{Requests: map[string]*dedup.Request{}}}
}

// UnmarshalJSON decodes a snapshot's state and refuses one that applying a
// later entry would panic on: a null table or entry, or a key whose
// versions are missing or out of order. A snapshot comes from the leader;
// a corrupt one must fail Restore, not crash the replicas that install it.
func (st *state) UnmarshalJSON(data []byte) error {
	type plain state // state's fields without this method
	// A field this build does not know is refused, not dropped: a snapshot
	// from a newer protocol must stop this replica, not be half-restored.
	if err := strictjson.Decode(data, (*plain)(st)); err != nil {
		return err
	}
	if st.Protocol > MaxProtocol {
		return fmt.Errorf("snapshot of a cluster at protocol %d, this build supports up to %d: %w", st.Protocol, MaxProtocol, ErrUnsupportedProtocol)
	}
	if st.Supports == nil {
		st.Supports = protover.Supports{}
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
	if err := st.Keys.Check(); err != nil {
		return err
	}
	if err := st.Records.Check(st.Keys); err != nil {
		return err
	}
	if err := st.Presigs.Check(st.Keys); err != nil {
		return err
	}
	if st.Frost == nil {
		st.Frost = pool.Commitments{} // a snapshot from before FROST
	}
	if err := st.Frost.Check(st.Keys); err != nil {
		return err
	}
	if err := st.Members.Check(); err != nil {
		return err
	}
	if err := st.Handles.Check(); err != nil {
		return err
	}
	if err := st.Table.Check(); err != nil {
		return err
	}
	if err := st.Ceremonies.Check(); err != nil {
		return err
	}
	if err := st.Registry.Check(); err != nil {
		return err
	}
	if err := st.Policy.Check(); err != nil {
		return err
	}
	return nil
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
	ErrPresigUnavailable = pool.ErrPresigUnavailable
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
	ErrHandleDenied = handles.ErrHandleDenied
	// ErrHandleExists is returned when a handle id is taken by another
	// request; clients that make their own tokens choose the id.
	ErrHandleExists = handles.ErrHandleExists
	// ErrTooManyHandles is returned when the handle table is full.
	ErrTooManyHandles = policy.ErrTooManyHandles
)
