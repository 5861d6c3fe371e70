package bench

import "errors"

var (
	// ErrBadSignature is returned by Signs when a returned signature fails
	// the caller's check.
	ErrBadSignature = errors.New("bench: signature does not verify")
	// ErrNoRuns is returned when a run is asked for fewer than one operation.
	ErrNoRuns = errors.New("bench: need at least one run")
)
