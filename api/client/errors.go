package client

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors, one per gRPC status code a keyquorum node answers with.
// Every error a Client method returns for a call the cluster refused is an
// *Error, which matches exactly one of these with errors.Is.
var (
	// ErrInvalidArgument: the request is malformed (an empty name, a digest
	// of the wrong length, an unknown algorithm). Retrying cannot help.
	ErrInvalidArgument = errors.New("keyquorum: invalid argument")
	// ErrNotFound: no such key, version or handle.
	ErrNotFound = errors.New("keyquorum: not found")
	// ErrAlreadyExists: the name is taken, or the request id was used
	// before with other input.
	ErrAlreadyExists = errors.New("keyquorum: already exists")
	// ErrPermissionDenied: the handle does not allow this (expired, spent,
	// revoked, another key or purpose), or the caller's certificate may not.
	ErrPermissionDenied = errors.New("keyquorum: permission denied")
	// ErrUnauthenticated: the caller presented no certificate the node
	// accepts as a keyquorum identity.
	ErrUnauthenticated = errors.New("keyquorum: unauthenticated")
	// ErrFailedPrecondition: the key is not in a state that allows this
	// (still generating, retired, revoked, below a policy floor).
	ErrFailedPrecondition = errors.New("keyquorum: failed precondition")
	// ErrResourceExhausted: a bound was reached (handles, concurrent
	// sessions, presignatures); retry later.
	ErrResourceExhausted = errors.New("keyquorum: resource exhausted")
	// ErrUnavailable: no node could carry the call out (none reachable, no
	// leader). The call may still have taken effect: retry with the same
	// request id.
	ErrUnavailable = errors.New("keyquorum: unavailable")
	// ErrDeadlineExceeded: the call's deadline passed. As with
	// ErrUnavailable, the outcome is unknown.
	ErrDeadlineExceeded = errors.New("keyquorum: deadline exceeded")
	// ErrCanceled: the caller's context was canceled.
	ErrCanceled = errors.New("keyquorum: canceled")
	// ErrAborted: a signing attempt was abandoned (a committee member
	// failed); the outcome is unknown, retry with the same request id.
	ErrAborted = errors.New("keyquorum: aborted")
	// ErrInternal covers every other code (Internal, Unknown,
	// Unimplemented, DataLoss, OutOfRange).
	ErrInternal = errors.New("keyquorum: internal error")
)

// Error is a call the cluster (or the network on the way to it) refused.
// It matches its code's sentinel with errors.Is, and status.FromError and
// status.Code still read its gRPC status.
type Error struct {
	// Op names the call: "Sign", "CreateKey", ...
	Op string
	// Code is the gRPC status code; Message the node's explanation.
	Code    codes.Code
	Message string
	// Endpoint is the node that answered last, "" when none was reached.
	Endpoint string
	// RequestID is the id the call carried, "" for reads. After
	// ErrUnavailable, ErrDeadlineExceeded or ErrAborted the request may still
	// complete; repeating it with this id is safe.
	RequestID string
	// Attempts lists why each earlier endpoint failed, oldest first, when
	// the client failed over.
	Attempts []string
}

// Error renders the call, code, message and, for an unknown outcome, the
// request id to retry with.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "keyquorum: %s: %s: %s", e.Op, e.Code, e.Message)
	if e.Endpoint != "" {
		fmt.Fprintf(&b, " (node %s)", e.Endpoint)
	}
	if len(e.Attempts) > 0 {
		fmt.Fprintf(&b, "; earlier attempts: %s", strings.Join(e.Attempts, "; "))
	}
	if e.RequestID != "" && e.OutcomeUnknown() {
		fmt.Fprintf(&b, "; the request may still complete: retry with request id %s", e.RequestID)
	}
	return b.String()
}

// Is reports whether target is the sentinel of e's code.
func (e *Error) Is(target error) bool { return sentinel(e.Code) == target }

// GRPCStatus returns the status e was made from, so grpc's status package
// reads it through any wrapping.
func (e *Error) GRPCStatus() *status.Status { return status.New(e.Code, e.Message) }

// OutcomeUnknown reports whether the request may have taken effect even
// though the call failed: the connection or leader was lost, the deadline
// passed, or an attempt was abandoned.
func (e *Error) OutcomeUnknown() bool {
	switch e.Code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Aborted, codes.Unknown:
		return true
	}
	return false
}

// sentinel returns the sentinel of code c: ErrInternal for codes a node
// does not use to tell the caller anything it can act on.
func sentinel(c codes.Code) error {
	switch c {
	case codes.InvalidArgument:
		return ErrInvalidArgument
	case codes.NotFound:
		return ErrNotFound
	case codes.AlreadyExists:
		return ErrAlreadyExists
	case codes.PermissionDenied:
		return ErrPermissionDenied
	case codes.Unauthenticated:
		return ErrUnauthenticated
	case codes.FailedPrecondition:
		return ErrFailedPrecondition
	case codes.ResourceExhausted:
		return ErrResourceExhausted
	case codes.Unavailable:
		return ErrUnavailable
	case codes.DeadlineExceeded:
		return ErrDeadlineExceeded
	case codes.Canceled:
		return ErrCanceled
	case codes.Aborted:
		return ErrAborted
	}
	return ErrInternal
}

// wrapError turns a gRPC error into an *Error. A context error that never
// reached gRPC keeps its own code.
func wrapError(op, endpoint, requestID string, err error, attempts []string) error {
	if err == nil {
		return nil
	}
	s := status.Convert(err)
	switch {
	case errors.Is(err, context.Canceled):
		s = status.New(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		s = status.New(codes.DeadlineExceeded, err.Error())
	}
	return &Error{Op: op, Code: s.Code(), Message: s.Message(), Endpoint: endpoint, RequestID: requestID, Attempts: attempts}
}
