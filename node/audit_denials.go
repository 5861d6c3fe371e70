package node

import (
	"cmp"
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// Bounds of denial aggregation: distinct (actor, op, reason) triples per
// window, beyond which refusals are only counted in one overflow entry; and
// the length of a reason, which is normalised first (quoted text and
// numbers removed) so a caller cannot mint a new triple per request.
const (
	maxDenialPairs     = 128
	maxDenialReasonLen = 160
	denialOverflow     = "(overflow)"
)

// denialCodes are the statuses that mean "refused": the caller asked for
// something it may not have or that cannot be. Unavailable, deadlines and
// internal errors are the cluster's trouble, not the caller's.
var denialCodes = map[codes.Code]bool{
	codes.InvalidArgument: true, codes.NotFound: true, codes.AlreadyExists: true,
	codes.FailedPrecondition: true, codes.PermissionDenied: true, codes.Unauthenticated: true,
	codes.ResourceExhausted: true, codes.OutOfRange: true,
}

type denialKey struct{ actor, op, reason string }

// denials aggregates refusals per (actor, op, reason) over a window. It is
// safe for concurrent use.
type denials struct {
	window time.Duration

	mu       sync.Mutex
	start    time.Time
	counts   map[denialKey]uint64
	overflow uint64
	pending  *fsm.AuditDenials // taken but not yet appended
}

func newDenials(window time.Duration) *denials {
	return &denials{window: window, counts: map[denialKey]uint64{}}
}

func (d *denials) add(now time.Time, actor, op, reason string) {
	k := denialKey{audit.Clean(actor, audit.MaxActorLen), audit.Clean(op, audit.MaxFieldLen), normalizeReason(reason)}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.counts) == 0 && d.overflow == 0 {
		d.start = now
	}
	if _, ok := d.counts[k]; !ok && len(d.counts) >= maxDenialPairs {
		d.overflow++
		return
	}
	d.counts[k]++
}

// take returns the batch to append: the one a failed append left, or the
// current window once it is over. The batch stays pending until done.
func (d *denials) take(now time.Time, node string) *fsm.AuditDenials {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending != nil {
		return d.pending
	}
	if len(d.counts) == 0 && d.overflow == 0 || now.Sub(d.start) < d.window {
		return nil
	}
	c := &fsm.AuditDenials{Node: node, WindowStart: d.start.UnixNano(), WindowEnd: now.UnixNano()}
	for k, n := range d.counts {
		c.Entries = append(c.Entries, fsm.DenialEntry{Actor: k.actor, Op: k.op, Reason: k.reason, Count: n})
	}
	// Deterministic order makes the records easy to compare across windows.
	sortDenials(c.Entries)
	if d.overflow > 0 {
		c.Entries = append(c.Entries, fsm.DenialEntry{Actor: denialOverflow, Op: denialOverflow,
			Reason: "more distinct (actor, operation, reason) triples than one window keeps", Count: d.overflow})
	}
	clear(d.counts)
	d.overflow, d.pending = 0, c
	return c
}

// done clears the pending batch once it is in the log.
func (d *denials) done() {
	d.mu.Lock()
	d.pending = nil
	d.mu.Unlock()
}

func sortDenials(es []fsm.DenialEntry) {
	slices.SortFunc(es, func(a, b fsm.DenialEntry) int {
		return cmp.Or(cmp.Compare(a.Actor, b.Actor), cmp.Compare(a.Op, b.Op), cmp.Compare(a.Reason, b.Reason))
	})
}

var (
	quotedPattern = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	numberPattern = regexp.MustCompile(`[0-9]+`)
)

// normalizeReason keeps a refusal's kind and drops what the caller chose:
// quoted names become "…", numbers become N. `NotFound: unknown key "x1"`
// and `NotFound: unknown key "x2"` aggregate as one reason.
func normalizeReason(s string) string {
	s = quotedPattern.ReplaceAllString(s, `"…"`)
	s = numberPattern.ReplaceAllString(s, "N")
	return audit.Clean(s, maxDenialReasonLen)
}

// opName turns "/keyquorum.v1.KeyService/CreateKey" into "create_key".
func opName(fullMethod string) string {
	m := fullMethod[strings.LastIndexByte(fullMethod, '/')+1:]
	var b strings.Builder
	for i, r := range m {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte('_')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

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
	if err == nil || !denialCodes[status.Code(err)] {
		return resp, err
	}
	if !mark.forwarded.Load() {
		n.metrics.Refused(opName(info.FullMethod), status.Code(err))
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
		n.audit.denials.add(n.clock.Now(), actor, opName(info.FullMethod), s.Code().String()+": "+s.Message())
	}
	return resp, err
}

// flushDenials appends this node's aggregated refusals once their window
// is over: the leader directly, a follower as a member report.
func (n *Node) flushDenials(ctx context.Context) {
	c := n.audit.denials.take(n.clock.Now(), n.self.ID)
	if c == nil {
		return
	}
	data, err := n.encode(c)
	if err != nil {
		n.log.Error("encode audit denials", "err", err)
		n.audit.denials.done()
		return
	}
	if err := n.reportOnce(ctx, data); err != nil {
		n.log.Debug("audit denials not appended yet", "err", err)
		return // pending: retried on the next tick
	}
	n.audit.denials.done()
}
