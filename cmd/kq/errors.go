package main

import (
	"errors"
	"fmt"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the request failed, or the answer was "invalid"
	exitUsage   = 2 // bad flags, arguments or flag values
)

// usageError marks a mistake on the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// errSilentFailure makes kq exit 1 after it has printed its answer, as
// `kq verify` does for an invalid signature.
var errSilentFailure = errors.New("kq: failure already reported")
