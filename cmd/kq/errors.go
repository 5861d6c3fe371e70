package main

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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

// errorText renders err as "<grpc code>: <message>" when it carries a gRPC
// status, else as its message.
func errorText(err error) string {
	if s, ok := status.FromError(err); ok && s != nil {
		return fmt.Sprintf("%s: %s", s.Code(), s.Message())
	}
	return err.Error()
}

// withRetryHint adds the request id to errors after which the request may
// still complete, so the operator can retry it without creating a duplicate.
func withRetryHint(err error, requestID string) error {
	s, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch s.Code() {
	case codes.DeadlineExceeded, codes.Unavailable, codes.Canceled, codes.Unknown, codes.Aborted:
		return status.Errorf(s.Code(), "%s (the request may still complete; retry with --request-id %s)", s.Message(), requestID)
	}
	return err
}
