// Package fsmerr holds the errors that applying an entry returns and that
// more than one family of the state machine shares: package fsm and its
// family packages wrap the same values, so errors.Is matches whichever
// package refused. They are part of the replicated outcome: every replica
// returns the same one for the same entry. Package fsm re-exports each.
package fsmerr

import "errors"

var (
	// ErrInvalidCommand is returned for a command whose fields break an invariant.
	ErrInvalidCommand = errors.New("invalid command")
	// ErrBadTransition is returned for a lifecycle change the version's
	// state or the key's policy does not allow.
	ErrBadTransition = errors.New("lifecycle change not allowed")
	// ErrStale is returned for a report about an attempt or version that has moved on.
	ErrStale = errors.New("stale report")
	// ErrUnknownKey is returned when no key has the given name.
	ErrUnknownKey = errors.New("unknown key")
	// ErrRequestConflict is returned when a request id is reused with other input.
	ErrRequestConflict = errors.New("request id already used with different input")
)
