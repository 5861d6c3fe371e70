package node

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

// markApplied is the proposed hook that records that the call in ctx
// appended an entry: the entry's audit record holds any refusal.
func markApplied(ctx context.Context, _ proposal) {
	if m, ok := ctx.Value(applyMarkKey{}).(*applyMark); ok {
		m.applied.Store(true)
	}
}

// requestIDCarrier is every request that names a request id.
type requestIDCarrier interface{ GetRequestId() string }

// auditInterceptor is the one place that sees every client call's
// refusal. It refuses request ids in the audit's reserved space, counts
// every refusal in keyquorum_requests_refused_total, and audits those that
// never reached the log. A call this node forwarded to the
// leader is counted there, not here.
func (n *Node) auditInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
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
		n.audit.denials.Add(n.clock.Now(), actor, audittrail.OpName(info.FullMethod), s.Code().String()+": "+s.Message())
	}
	return resp, err
}

// flushDenials appends this node's aggregated refusals once their window
// is over: the leader directly, a follower as a member report.
func (n *Node) flushDenials(ctx context.Context) {
	c := n.audit.denials.Take(n.clock.Now(), n.self.ID)
	if c == nil {
		return
	}
	data, err := n.encode(c)
	if err != nil {
		n.log.Error("encode audit denials", "err", err)
		n.audit.denials.Done()
		return
	}
	if err := n.reportOnce(ctx, data); err != nil {
		n.log.Debug("audit denials not appended yet", "err", err)
		return // pending: retried on the next tick
	}
	n.audit.denials.Done()
}
