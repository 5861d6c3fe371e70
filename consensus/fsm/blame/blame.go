// Package blame is the replicated ledger of accusations: identifiable
// abort, used.
//
// When a signing attempt aborts because a member's message or share failed
// a check, each member that saw it reports AttemptBlamed naming the
// culprit, the check and the SHA-256 of what it received. The ledger
// records every accepted accusation; whether it also excludes the culprit
// from committees is the rule below.
//
// The rule: a member is excluded from committees for the exclusion time
// (FSMConfig.BlameExclusion, 10 minutes by default) once at least t+1
// distinct members of one key, t being that key's threshold, accused it in
// that key's signing attempts within that time. Until then the
// accusations are only recorded.
//
// Why t+1: round messages and FROST shares travel over mutual TLS but are
// not signed by their sender, so an accusation is transferable to nobody:
// a single accuser could be the liar, and it can invent the evidence as
// easily as the accusation. A key tolerates t malicious members; among t+1
// distinct accusers at least one is honest, and an honest member names a
// culprit only for a message that arrived over the culprit's own
// authenticated connection and failed a check, so the culprit really did
// misbehave. A FROST coordinator gets no exception: a share re-checks
// against public data (the commitment list in the log and the member's
// verifying share), which proves some bytes invalid but not who sent them,
// and the log stores only their hash. Below t+1 the accused is still
// avoided by the immediate retry of the attempt it spoiled (the leader's
// choice for that one request), but not excluded from others'.
//
// A flood is blamed too: a member whose round messages for sessions not
// yet started keep overflowing its share of an accuser's buffer is
// accused with the check Flood and no request (RequestID "", Attempt 0).
// Such an accusation counts, by the same t+1 rule, toward every key that
// both the culprit and the accuser hold: the flood slows every session the
// two share.
//
// An operator with the cluster-admin role clears a member's record
// (Ledger.Clear); exclusion then ends and earlier accusations no longer
// count.
//
// The package is pure, like the state machine that holds the ledger: time
// is the replicated time the caller passes in.
package blame

import (
	"encoding/hex"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
)

// Flood is the check of an accusation for flooding round messages, which
// names no signing attempt.
const Flood = "flood"

// Bounds of the ledger. Only distinct accusers count, so a few
// accusations per accuser are enough; the bound is per accuser so that a
// member colluding with a culprit cannot push honest accusations out by
// filing many of its own. Accusations also age out after the exclusion
// time.
const (
	maxPerAccuser = 4
	maxCheckLen   = 32
)

// Record is the replicated record of the accusations against one member.
type Record struct {
	// Accusations within the exclusion time, oldest first, at most
	// maxPerAccuser from each accuser.
	Accusations []Accusation `json:"accusations"`
	// ExcludedUntil is the replicated time until which the member is
	// excluded from committees; 0 when it never was.
	ExcludedUntil int64 `json:"excluded_until,omitempty"`
	// Total counts the accusations accepted since the record began (the
	// last clear), including those that aged out.
	Total uint64 `json:"total"`
}

// Accusation is one accepted AttemptBlamed, with the key its request
// signs with ("" for a flood) and the replicated time and index it
// applied at.
type Accusation struct {
	Accuser   string `json:"accuser"`
	Key       string `json:"key"`
	RequestID string `json:"request_id"`
	Attempt   uint32 `json:"attempt"`
	Check     string `json:"check"`
	Evidence  string `json:"evidence_sha256"`
	Time      int64  `json:"time"`
	Index     uint64 `json:"index"`
}

// Clone returns a deep copy of r.
func (r *Record) Clone() *Record {
	c := *r
	c.Accusations = slices.Clone(r.Accusations)
	return &c
}

// IsFlood reports whether an accusation's check and attempt accuse a
// flood rather than a signing attempt.
func IsFlood(check, requestID string, attempt uint32) bool {
	return check == Flood && requestID == "" && attempt == 0
}

// CheckReport refuses an accusation whose fields are malformed: the
// culprit and accuser must be two members, the check a short name
// (lower-case ASCII letters, digits and '-') and the evidence a SHA-256 in
// lower-case hex.
func CheckReport(culprit, accuser, check, evidence string) error {
	ev, err := hex.DecodeString(evidence)
	switch {
	case culprit == "" || accuser == "" || culprit == accuser:
		return fmt.Errorf("attempt blamed: %w: culprit and accuser must be two members", fsmerr.ErrInvalidCommand)
	case !validCheck(check):
		return fmt.Errorf("attempt blamed: %w: check %.40q is not a check name", fsmerr.ErrInvalidCommand, check)
	case err != nil || len(ev) != 32 || evidence != strings.ToLower(evidence):
		return fmt.Errorf("attempt blamed: %w: evidence must be a SHA-256 in lower-case hex", fsmerr.ErrInvalidCommand)
	}
	return nil
}

// validCheck reports whether s is a short check name: lower-case ASCII
// letters, digits and '-'.
func validCheck(s string) bool {
	if s == "" || len(s) > maxCheckLen {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// Key is what the exclusion rule reads of one replicated key.
type Key struct {
	Name      string
	Threshold int
	Holders   []string
}

// Holds reports whether node holds a share of the key.
func (k Key) Holds(node string) bool { return slices.Contains(k.Holders, node) }

// Keys is the ledger's view of the replicated key table.
type Keys interface {
	// Lookup returns the key named name.
	Lookup(name string) (Key, bool)
	// All yields every key, in any order.
	All() iter.Seq[Key]
}

// ShareAKey reports whether some key is held by both a and b: a flood
// accusation needs one.
func ShareAKey(keys Keys, a, b string) bool {
	for k := range keys.All() {
		if k.Holds(a) && k.Holds(b) {
			return true
		}
	}
	return false
}

// Ledger is the replicated blame table: by member, the accusations
// against it. It is a map, so a snapshot holds it exactly as the table it
// replaced; the state machine keeps it non-nil.
type Ledger map[string]*Record

// Check refuses a ledger decoded from a snapshot with a null record.
func (l Ledger) Check() error {
	for m, b := range l {
		if b == nil {
			return fmt.Errorf("blame record of %q is null", m)
		}
	}
	return nil
}

// Accuse records an accepted accusation against culprit at replicated
// time a.Time, ages out accusations older than window and applies the
// exclusion rule. A second report by the same accuser of the same attempt
// is a duplicate and changes nothing. The note says, for the audit record,
// where the culprit stands.
func (l Ledger) Accuse(culprit string, a Accusation, window time.Duration, keys Keys) (note string, duplicate bool) {
	b := l[culprit]
	if b == nil {
		b = &Record{}
		l[culprit] = b
	}
	now := a.Time
	for _, o := range b.Accusations {
		if o.Accuser == a.Accuser && o.RequestID == a.RequestID && o.Attempt == a.Attempt {
			return b.note(culprit, now, window), true
		}
	}
	b.Accusations = slices.DeleteFunc(b.Accusations, func(o Accusation) bool { return o.Time < now-int64(window) })
	b.Accusations = append(b.Accusations, a)
	if mine := slices.IndexFunc(b.Accusations, func(o Accusation) bool { return o.Accuser == a.Accuser }); mine >= 0 &&
		countBy(b.Accusations, a.Accuser) > maxPerAccuser {
		b.Accusations = slices.Delete(b.Accusations, mine, mine+1) // that accuser's oldest
	}
	b.Total++
	if b.excludes(culprit, keys) {
		b.ExcludedUntil = now + int64(window)
	}
	return b.note(culprit, now, window), false
}

func countBy(as []Accusation, accuser string) int {
	n := 0
	for _, a := range as {
		if a.Accuser == accuser {
			n++
		}
	}
	return n
}

// excludes is the rule: some key has at least threshold+1 distinct
// accusers among the accusations against culprit (all within the
// exclusion time). A flood accusation counts for every key the culprit
// and its accuser both hold.
func (b *Record) excludes(culprit string, keys Keys) bool {
	accusers := map[string]map[string]bool{} // key -> accusers
	count := func(k Key, accuser string) bool {
		if !k.Holds(accuser) {
			return false
		}
		if accusers[k.Name] == nil {
			accusers[k.Name] = map[string]bool{}
		}
		accusers[k.Name][accuser] = true
		return len(accusers[k.Name]) >= k.Threshold+1
	}
	for _, a := range b.Accusations {
		if a.Key != "" {
			if k, ok := keys.Lookup(a.Key); ok && count(k, a.Accuser) {
				return true
			}
			continue
		}
		for k := range keys.All() { // any order: the answer is whether some key gets there
			if k.Holds(culprit) && count(k, a.Accuser) {
				return true
			}
		}
	}
	return false
}

// note says, for the audit record, where member stands at now.
func (b *Record) note(member string, now int64, window time.Duration) string {
	accusers := map[string]bool{}
	for _, a := range b.Accusations {
		accusers[a.Accuser] = true
	}
	note := fmt.Sprintf("%s accused %d time(s), by %v within %s", member, b.Total, slices.Sorted(maps.Keys(accusers)), window)
	if b.ExcludedUntil > now {
		note += fmt.Sprintf("; excluded from committees until %s", time.Unix(0, b.ExcludedUntil).UTC().Format(time.RFC3339))
	} else {
		note += "; recorded only (fewer than threshold+1 distinct accusers of one key)"
	}
	return note
}

// Clear forgets member's accusations and lifts its exclusion as of now;
// ok is false when member has no record. The note says what was forgotten.
func (l Ledger) Clear(member string, now int64) (note string, ok bool) {
	b, ok := l[member]
	if !ok {
		return member + " has no blame record", false
	}
	delete(l, member)
	note = fmt.Sprintf("%s: %d accusation(s) forgotten", member, b.Total)
	if b.ExcludedUntil > now {
		note += "; exclusion lifted"
	}
	return note, true
}

// Excluded returns the members excluded from committees at now, sorted.
func (l Ledger) Excluded(now int64) []string {
	var out []string
	for m, b := range l {
		if b.ExcludedUntil > now {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// Of returns a copy of member's record.
func (l Ledger) Of(member string) (*Record, bool) {
	b, ok := l[member]
	if !ok {
		return nil, false
	}
	return b.Clone(), true
}

// BlamedIn returns the members accused in attempt of requestID, sorted.
func (l Ledger) BlamedIn(requestID string, attempt uint32) []string {
	var out []string
	for m, b := range l {
		for _, a := range b.Accusations {
			if a.RequestID != "" && a.RequestID == requestID && a.Attempt == attempt { // a flood names none
				out = append(out, m)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}
