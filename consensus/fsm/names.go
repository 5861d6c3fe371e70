package fsm

import (
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/commands"
	"github.com/keyquorum/keyquorum/consensus/fsm/handles"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// The records, states, protocol versions and errors of applying entries are
// package commands' (most of them its sub-packages', named there); these
// names keep the FSM's API, and the errors its results carry, in one
// vocabulary for its callers.

type (
	FrostCommitment = commands.FrostCommitment
	Handle          = commands.Handle
	Presig          = commands.Presig
	PresigState     = commands.PresigState
	TenantDeletion  = commands.TenantDeletion
	TenantInfo      = commands.TenantInfo
	Key             = commands.Key
	Version         = commands.Version
	KeyState        = commands.KeyState
	Sign            = commands.Sign
	SignState       = commands.SignState
)

const (
	PresigPending      = commands.PresigPending
	PresigReady        = commands.PresigReady
	ProtocolV1         = commands.ProtocolV1
	ProtocolV2         = commands.ProtocolV2
	MaxProtocol        = commands.MaxProtocol
	KeyGenerating      = commands.KeyGenerating
	KeyStaged          = commands.KeyStaged
	KeyActive          = commands.KeyActive
	KeyRetired         = commands.KeyRetired
	KeyRevoked         = commands.KeyRevoked
	KeyDestroyed       = commands.KeyDestroyed
	KeyFailed          = commands.KeyFailed
	SignStatePending   = commands.SignStatePending
	SignStateCompleted = commands.SignStateCompleted
	SignStateFailed    = commands.SignStateFailed
	DefaultPurpose     = commands.DefaultPurpose
)

var (
	ErrFrostUnavailable    = commands.ErrFrostUnavailable
	ErrTooManyFrost        = commands.ErrTooManyFrost
	ErrUnknownCeremony     = commands.ErrUnknownCeremony
	ErrCeremonyEnded       = commands.ErrCeremonyEnded
	ErrCeremonyExpired     = commands.ErrCeremonyExpired
	ErrCeremonyFailed      = commands.ErrCeremonyFailed
	ErrAlreadyApproved     = commands.ErrAlreadyApproved
	ErrNotApprover         = commands.ErrNotApprover
	ErrBadApproval         = commands.ErrBadApproval
	ErrCeremonyRequired    = commands.ErrCeremonyRequired
	ErrUnimplemented       = commands.ErrUnimplemented
	ErrFrozen              = commands.ErrFrozen
	ErrUnsupportedProtocol = commands.ErrUnsupportedProtocol
	ErrProtocolNotActive   = commands.ErrProtocolNotActive
	ErrUnknownCommand      = commands.ErrUnknownCommand
	ErrKeyExists           = commands.ErrKeyExists
	ErrUnknownKey          = commands.ErrUnknownKey
	ErrKeyNotActive        = commands.ErrKeyNotActive
	ErrRequestConflict     = commands.ErrRequestConflict
	ErrInvalidCommand      = commands.ErrInvalidCommand
	ErrPreParamsNotReady   = commands.ErrPreParamsNotReady
	ErrTooManyPending      = commands.ErrTooManyPending
	ErrTooManyKeys         = commands.ErrTooManyKeys
	ErrStale               = commands.ErrStale
	ErrPresigUnavailable   = commands.ErrPresigUnavailable
	ErrTooManyPresigs      = commands.ErrTooManyPresigs
	ErrBadSignature        = commands.ErrBadSignature
	ErrUnknownVersion      = commands.ErrUnknownVersion
	ErrVersionUnusable     = commands.ErrVersionUnusable
	ErrBadTransition       = commands.ErrBadTransition
	ErrHandleDenied        = commands.ErrHandleDenied
	ErrHandleExists        = commands.ErrHandleExists
	ErrTooManyHandles      = commands.ErrTooManyHandles
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
