package audittrail

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

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

// Denials aggregates refusals that never reached the log per (actor, op,
// reason) over a window, for the node to append as one AuditDenials
// entry. It is safe for concurrent use.
type Denials struct {
	window time.Duration

	mu       sync.Mutex
	start    time.Time
	counts   map[denialKey]uint64
	overflow uint64
	pending  *fsm.AuditDenials // taken but not yet appended
}

// NewDenials aggregates over windows of the given length.
func NewDenials(window time.Duration) *Denials {
	return &Denials{window: window, counts: map[denialKey]uint64{}}
}

// Add counts one refusal.
func (d *Denials) Add(now time.Time, actor, op, reason string) {
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

// Take returns the batch to append: the one a failed append left, or the
// current window once it is over. The batch stays pending until done.
func (d *Denials) Take(now time.Time, node string) *fsm.AuditDenials {
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

// Done clears the pending batch once it is in the log.
func (d *Denials) Done() {
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

// OpName turns "/keyquorum.v1.KeyService/CreateKey" into "create_key".
func OpName(fullMethod string) string {
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

// IsDenial reports whether a call that failed with code was refused for
// the caller's reasons, which the audit records.
func IsDenial(code codes.Code) bool { return denialCodes[code] }
