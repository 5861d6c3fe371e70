package commands

import (
	"errors"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
	"github.com/keyquorum/keyquorum/consensus/fsm/handles"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

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
