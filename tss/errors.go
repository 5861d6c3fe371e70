package tss

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBusy is returned when MaxSessions sessions are already running.
var ErrBusy = errors.New("tss: too many concurrent sessions")

// ErrTimeout is wrapped by the *AbortError of a session that passed its deadline.
var ErrTimeout = errors.New("tss: session timed out")

// ErrDuplicate is returned by Deliver for a second message in a slot that is
// already filled; the message is dropped and the session is unaffected.
var ErrDuplicate = errors.New("tss: duplicate message dropped")

// ErrNotMember is returned by Deliver for a sender outside the session's committee.
var ErrNotMember = errors.New("tss: sender is not a committee member")

// ErrMessageTooLarge is returned by Deliver for a payload above MaxMessageBytes.
var ErrMessageTooLarge = errors.New("tss: message too large")

// ErrBadMessage is returned by Deliver for a payload that does not parse or
// does not belong to the session's protocol.
var ErrBadMessage = errors.New("tss: malformed message")

// ErrPendingFull is returned by Deliver when the pending buffer for sessions
// not started yet is full; the message is dropped.
var ErrPendingFull = errors.New("tss: pending buffer full")

// ErrSessionExists is returned when a session ID is already running or has
// recently finished on this engine; session IDs are single-use.
var ErrSessionExists = errors.New("tss: session already exists")

// ErrInvalidRequest is wrapped by errors about malformed requests or shares.
var ErrInvalidRequest = errors.New("tss: invalid request")

// ErrPoisoned is wrapped by the AbortError of a session whose tss-lib party
// panicked; the party is thrown away and never retried.
var ErrPoisoned = errors.New("tss: protocol party panicked")

// ErrClosed is returned after the engine has been closed.
var ErrClosed = errors.New("tss: engine closed")

// AbortError reports a session that ended without a result. Culprits are
// members tss-lib blamed for invalid messages; Stalled are members this node
// was still waiting for when the session ended (set on timeout). The node
// should retry with a committee that avoids both. Err is the cause
// (ErrTimeout, ErrPoisoned, context.Canceled or a protocol error).
type AbortError struct {
	Session  SessionID
	Culprits []string
	Stalled  []string
	Err      error
}

func (e *AbortError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tss: session %s aborted", e.Session)
	if len(e.Culprits) > 0 {
		fmt.Fprintf(&b, " (culprits %s)", strings.Join(e.Culprits, ","))
	}
	if len(e.Stalled) > 0 {
		fmt.Fprintf(&b, " (waiting for %s)", strings.Join(e.Stalled, ","))
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": %v", e.Err)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *AbortError) Unwrap() error { return e.Err }

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidRequest}, args...)...)
}
