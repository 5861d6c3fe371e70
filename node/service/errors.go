package service

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/policy"
	"github.com/keyquorum/keyquorum/node/clock"
	"github.com/keyquorum/keyquorum/sealing"
	"github.com/keyquorum/keyquorum/tss"
)

// errNeedsEveryMember starts the refusal to begin work that needs every
// member (key generation, refresh) while one is unreachable. It is
// returned before anything is appended, and clients (the fault-injection
// harness among them) may rely on its text to know that nothing changed.
const errNeedsEveryMember = "needs every member; unreachable"

// requireEveryMember refuses work that needs every member (key generation,
// resharing) while one is unreachable: started with one down, it would
// only fail minutes later.
func (n *core) requireEveryMember(what string, members []string) error {
	if missing := n.rt.Unreachable(members); len(missing) > 0 {
		return status.Errorf(codes.Unavailable, "%s %s: %v", what, errNeedsEveryMember, missing)
	}
	return nil
}

// Errors the member's work returns that ToStatus maps to codes.
var (
	// ErrNoLeader is returned when no leader is known, e.g. without a quorum.
	ErrNoLeader = errors.New("no leader: the cluster has no quorum or is electing")
	// ErrTooFewMembers is returned when fewer than threshold+1 members of a
	// key are reachable.
	ErrTooFewMembers = errors.New("too few members reachable")
	// ErrSignEnded is what the audit key's signature (the backup
	// service's Member.AuditSign) wraps when it failed or its record was
	// evicted.
	ErrSignEnded = errors.New("signature failed or was evicted")
)

// ToStatus maps an error to the gRPC status a client sees. The message is
// the error's text: errors in keyquorum never carry secret material.
func ToStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	if s, ok := quotaStatus(err); ok {
		return s
	}
	code := codes.Internal
	switch {
	// Ceremony errors first: a failed ceremony wraps its precondition's
	// error, and reads as FAILED_PRECONDITION whatever that was.
	case errors.Is(err, fsm.ErrCeremonyFailed):
		code = codes.FailedPrecondition
	case errors.Is(err, fsm.ErrUnknownCeremony):
		code = codes.NotFound
	case errors.Is(err, fsm.ErrAlreadyApproved):
		code = codes.AlreadyExists
	case errors.Is(err, fsm.ErrUnimplemented):
		code = codes.Unimplemented
	case errors.Is(err, fsm.ErrUnknownKey), errors.Is(err, fsm.ErrUnknownVersion):
		code = codes.NotFound
	case errors.Is(err, fsm.ErrHandleDenied), errors.Is(err, policy.ErrPermissionDenied):
		code = codes.PermissionDenied
	case errors.Is(err, fsm.ErrVersionUnusable), errors.Is(err, fsm.ErrBadTransition):
		code = codes.FailedPrecondition
	case errors.Is(err, fsm.ErrKeyExists), errors.Is(err, fsm.ErrRequestConflict), errors.Is(err, fsm.ErrHandleExists):
		code = codes.AlreadyExists
	case errors.Is(err, fsm.ErrInvalidCommand), errors.Is(err, policy.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, fsm.ErrKeyNotActive), errors.Is(err, fsm.ErrPreParamsNotReady):
		code = codes.FailedPrecondition
	case errors.Is(err, fsm.ErrTooManyPending), errors.Is(err, fsm.ErrTooManyKeys), errors.Is(err, tss.ErrBusy),
		errors.Is(err, fsm.ErrTooManyHandles):
		code = codes.ResourceExhausted
	case errors.Is(err, consensus.ErrNotLeader), errors.Is(err, consensus.ErrLeadershipLost),
		errors.Is(err, consensus.ErrShutdown), errors.Is(err, consensus.ErrTimeout),
		errors.Is(err, ErrNoLeader), errors.Is(err, ErrTooFewMembers), consensus.OutcomeUnknown(err),
		errors.Is(err, clock.ErrUnconfirmed), errors.Is(err, clock.ErrOffset):
		code = codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, sealing.ErrBindingMismatch):
		code = codes.DataLoss
	}
	return status.Error(code, err.Error())
}
