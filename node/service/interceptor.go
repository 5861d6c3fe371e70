package service

import (
	"context"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/audittrail"
)

// applyMark tells the audit interceptor that a call reached the log: its
// refusal, if any, is already a chained record of the applied entry.
// forwarded tells it the leader answered the call, so the leader counted
// any refusal.
type applyMark struct{ applied, forwarded atomic.Bool }

// markForwarded records that the call in ctx was answered by the leader.
func markForwarded(ctx context.Context) {
	if m, ok := ctx.Value(applyMarkKey{}).(*applyMark); ok {
		m.forwarded.Store(true)
	}
}

type applyMarkKey struct{}

// MarkApplied records that the call in ctx appended an entry: the
// entry's audit record holds any refusal. The member calls it for every
// entry it proposes under a call's context.
func MarkApplied(ctx context.Context) {
	if m, ok := ctx.Value(applyMarkKey{}).(*applyMark); ok {
		m.applied.Store(true)
	}
}

// requestIDCarrier is every request that names a request id.
type requestIDCarrier interface{ GetRequestId() string }

// Intercept is the one place that sees every client call's
// refusal. It refuses request ids in the audit's reserved space, counts
// every refusal in keyquorum_requests_refused_total, and audits those that
// never reached the log. A call this node forwarded to the
// leader is counted there, not here.
func (svc *Services) Intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	n := svc.n
	mark := &applyMark{}
	ctx = context.WithValue(ctx, applyMarkKey{}, mark)
	var resp any
	var err error
	if r, ok := req.(requestIDCarrier); ok && strings.HasPrefix(r.GetRequestId(), fsm.AuditRequestPrefix) {
		err = status.Errorf(codes.InvalidArgument, "request ids starting with %q are reserved", fsm.AuditRequestPrefix)
	} else {
		resp, err = handler(ctx, req)
	}
	if reason := admissionReason(err); reason != "" && !mark.forwarded.Load() {
		n.metrics.AdmissionRejected(reason)
	}
	if err == nil || !audittrail.IsDenial(status.Code(err)) {
		return resp, err
	}
	if !mark.forwarded.Load() {
		n.metrics.Refused(audittrail.OpName(info.FullMethod), status.Code(err))
	}
	if mark.applied.Load() {
		return resp, err // the log's own record tells of it
	}
	if !mark.forwarded.Load() {
		actor, aerr := n.identity(ctx)
		if aerr != nil {
			actor = "unauthenticated"
		}
		s, _ := status.FromError(err)
		n.denials.Add(n.clock.Now(), actor, audittrail.OpName(info.FullMethod), s.Code().String()+": "+s.Message())
	}
	return resp, err
}
