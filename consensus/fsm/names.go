package fsm

import (
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/commands"
	"github.com/keyquorum/keyquorum/consensus/fsm/freeze"
	"github.com/keyquorum/keyquorum/consensus/fsm/handles"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/fsm/signs"
	"github.com/keyquorum/keyquorum/consensus/fsm/tenants"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// The records, states, protocol versions and errors of applying entries
// are package commands' and its families'; these names keep the FSM's API,
// and the errors its results carry, in one vocabulary for its callers.

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

// The presignature pool's types are package pool's; these names keep the
// FSM's read API (Presigs, Result.Presig) in one vocabulary for its callers.
type (
	// Presig is the replicated record of one ECDSA presignature.
	Presig = pool.Presig
	// PresigState is the lifecycle state of a presignature.
	PresigState = pool.PresigState
)

// Presignature states.
const (
	PresigPending = pool.PresigPending
	PresigReady   = pool.PresigReady
)

// FrostCommitment is the replicated record of one unused commitment, and,
// in a Sign record, of one the request consumed (package pool).
type FrostCommitment = pool.Commitment

// FROST commitment errors (package pool).
var (
	ErrFrostUnavailable = pool.ErrFrostUnavailable
	ErrTooManyFrost     = pool.ErrTooManyFrost
)

// Handle is the replicated record of a capability to sign with one key for
// one purpose until it expires (package handles).
type Handle = handles.Handle

// TenantDeletion is the record of a tenant's last deletion (package tenants).
type TenantDeletion = tenants.Deletion

// TenantInfo is one tenant as `kq tenant list` shows it (package tenants).
type TenantInfo = tenants.Info

// Errors of ceremonies, as package ceremony has them. The node maps them
// to gRPC codes (docs/AUTHORITY.md).
var (
	ErrUnknownCeremony  = ceremony.ErrUnknown
	ErrCeremonyEnded    = ceremony.ErrEnded
	ErrCeremonyExpired  = ceremony.ErrExpired
	ErrCeremonyFailed   = ceremony.ErrFailed
	ErrAlreadyApproved  = ceremony.ErrAlreadyApproved
	ErrNotApprover      = ceremony.ErrNotApprover
	ErrBadApproval      = ceremony.ErrBadApproval
	ErrCeremonyRequired = ceremony.ErrRequired
	ErrUnimplemented    = ceremony.ErrUnimplemented
)

// ErrFrozen is package freeze's: nothing signs until an unfreeze.
var ErrFrozen = freeze.ErrFrozen

// Protocol versions, as package protover has them: every entry and
// snapshot says the version it was written under, and the cluster's
// active version rises by RaiseProtocol only to one every member supports.
const (
	// ProtocolV1 is the log format before versions.
	ProtocolV1 = protover.V1
	// ProtocolV2 versions every entry and snapshot, refuses unknown
	// fields, and adds RaiseProtocol.
	ProtocolV2 = protover.V2
	// MaxProtocol is the newest protocol version this build reads and
	// writes (a kqd_compat build: ProtocolV1).
	MaxProtocol = protover.Max
)

// Errors of decoding and proposing under protocol versions.
var (
	// ErrUnsupportedProtocol is returned for an entry or snapshot written
	// under a newer protocol version than this build supports.
	ErrUnsupportedProtocol = protover.ErrUnsupported
	// ErrProtocolNotActive is returned when a command needs a protocol
	// version the cluster has not raised to yet.
	ErrProtocolNotActive = protover.ErrNotActive
)

// Errors returned as the result of applying a command (package commands
// explains each). They are part of the replicated outcome: every replica
// returns the same one for the same entry.
var (
	ErrUnknownCommand    = commands.ErrUnknownCommand
	ErrKeyExists         = commands.ErrKeyExists
	ErrUnknownKey        = commands.ErrUnknownKey
	ErrKeyNotActive      = commands.ErrKeyNotActive
	ErrRequestConflict   = commands.ErrRequestConflict
	ErrInvalidCommand    = commands.ErrInvalidCommand
	ErrPreParamsNotReady = commands.ErrPreParamsNotReady
	ErrTooManyPending    = commands.ErrTooManyPending
	ErrTooManyKeys       = commands.ErrTooManyKeys
	ErrStale             = commands.ErrStale
	ErrPresigUnavailable = commands.ErrPresigUnavailable
	ErrTooManyPresigs    = commands.ErrTooManyPresigs
	ErrBadSignature      = commands.ErrBadSignature
	ErrUnknownVersion    = commands.ErrUnknownVersion
	ErrVersionUnusable   = commands.ErrVersionUnusable
	ErrBadTransition     = commands.ErrBadTransition
	ErrHandleDenied      = commands.ErrHandleDenied
	ErrHandleExists      = commands.ErrHandleExists
	ErrTooManyHandles    = commands.ErrTooManyHandles
)

// HandleTokenHash is what the log carries in place of a handle's token.
func HandleTokenHash(token []byte) [32]byte { return handles.TokenHash(token) }

// AuditRequestPrefix starts the request ids of checkpoint signatures;
// clients may not use it.
const AuditRequestPrefix = "_audit-"

// AuditVisible reports whether a record naming key may be shown to a
// reader of scope (all, tenants).
func AuditVisible(all bool, tenants []string, key string) bool {
	return all || key != "" && !IsAuditKey(key) && slices.Contains(tenants, policy.TenantOf(key))
}
