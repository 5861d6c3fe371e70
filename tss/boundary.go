package tss

import (
	"errors"
	"fmt"

	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// protoError is a tss-lib error converted at the boundary: culprits are node
// IDs, and there is never a typed-nil *tsslib.Error behind an error.
type protoError struct {
	culprits []string
	cause    error
}

func (e *protoError) Error() string { return "tss: protocol: " + e.cause.Error() }
func (e *protoError) Unwrap() error { return e.cause }

// panicError records a recovered tss-lib panic. The value is not included:
// tss-lib panics can carry arbitrary state.
type panicError struct{ op string }

func (e *panicError) Error() string { return "tss: panic in tss-lib " + e.op }
func (e *panicError) Unwrap() error { return ErrPoisoned }

// namer maps tss-lib PartyIDs to node IDs; *committee and every wiring are
// namers.
type namer interface {
	names(ps []*tsslib.PartyID) []string
}

// intoLib is the only way keyquorum calls into tss-lib. fn's *tsslib.Error is
// converted once here. A panic is recovered into err (err is a named result
// so the deferred recover can set it) and reported through poison so the
// session throws the party away: a panic inside Update can leave the party's
// mutex locked, so the party must never be touched again.
func intoLib(op string, c namer, poison func(error), fn func() *tsslib.Error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{op: op}
			if poison != nil {
				poison(err)
			}
		}
	}()
	if e := fn(); e != nil {
		return convertLibError(e, c)
	}
	return nil
}

func convertLibError(e *tsslib.Error, c namer) error {
	if e == nil {
		return nil
	}
	cause := e.Cause()
	if cause == nil {
		cause = errors.New("unspecified tss-lib error")
	}
	pe := &protoError{cause: fmt.Errorf("round %d: %w", e.Round(), cause)}
	if c != nil {
		pe.culprits = c.names(e.Culprits())
	}
	return pe
}
