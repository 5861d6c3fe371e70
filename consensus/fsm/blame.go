package fsm

import (
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// blameCommands accuse members of misbehaving in a signing attempt, and
// clear accusations.
func blameCommands() []commandSpec {
	return []commandSpec{
		spec[AttemptBlamed](ProtocolV2),
		spec[ClearBlame](ProtocolV2),
	}
}

// Blame: identifiable abort, used.
//
// When a signing attempt aborts because a member's message or share failed
// a check, each member that saw it reports AttemptBlamed naming the
// culprit, the check and the SHA-256 of what it received. The FSM records
// every accepted accusation; whether it also excludes the culprit from
// committees is the rule below.
//
// The rule: a member is excluded from committees for FSMConfig.BlameExclusion
// (10 minutes by default) once at least t+1 distinct members of one key,
// t being that key's threshold, accused it in that key's signing attempts
// within that time. Until then the accusations are only recorded.
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
// accused with the check BlameFlood and no request (RequestID "", Attempt
// 0). Such an accusation counts, by the same t+1 rule, toward every key
// that both the culprit and the accuser hold: the flood slows every
// session the two share.
//
// An operator with the cluster-admin role clears a member's record
// (ClearBlame); exclusion then ends and earlier accusations no longer
// count.

// Commands of the blame record.
const (
	// TypeAttemptBlamed reports that a member named a culprit for an
	// aborted signing attempt.
	TypeAttemptBlamed CommandType = "attempt_blamed"
	// TypeClearBlame clears a member's accusations and exclusion.
	TypeClearBlame CommandType = "clear_blame"
)

// AttemptBlamed is an accuser's report that Culprit's message or share in
// attempt Attempt of request RequestID failed Check. EvidenceSHA256 is the
// hex SHA-256 of what the accuser received (or, when no bytes are at fault,
// of the check's description); it lets logs and accusations be matched,
// not proven.
type AttemptBlamed struct {
	RequestID      string `json:"request_id"`
	Attempt        uint32 `json:"attempt"`
	Culprit        string `json:"culprit"`
	Accuser        string `json:"accuser"`
	Check          string `json:"check"`
	EvidenceSHA256 string `json:"evidence_sha256"`
}

func (AttemptBlamed) Type() CommandType  { return TypeAttemptBlamed }
func (c AttemptBlamed) Reporter() string { return c.Accuser }

// ClearBlame forgets Member's accusations and lifts its exclusion; an
// operator proposes it.
type ClearBlame struct {
	Member string `json:"member"`
	Actor  string `json:"actor"`
	Time   int64  `json:"time"`
}

func (ClearBlame) Type() CommandType   { return TypeClearBlame }
func (c *ClearBlame) Stamp(t int64)    { c.Time = t }
func (c *ClearBlame) StampTime() int64 { return c.Time }

// Blame is the replicated record of the accusations against one member.
type Blame struct {
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
// signs with and the replicated time and index it applied at.
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

func (b *Blame) clone() *Blame {
	c := *b
	c.Accusations = slices.Clone(b.Accusations)
	return &c
}

// BlameFlood is the check of an accusation for flooding round messages,
// which names no signing attempt.
const BlameFlood = "flood"

// flood reports whether c accuses a flood rather than a signing attempt.
func (c *AttemptBlamed) flood() bool {
	return c.Check == BlameFlood && c.RequestID == "" && c.Attempt == 0
}

// Bounds of the blame record. Only distinct accusers count, so a few
// accusations per accuser are enough; the bound is per accuser so that a
// member colluding with a culprit cannot push honest accusations out by
// filing many of its own. Accusations also age out after the exclusion
// time.
const (
	maxPerAccuser = 4
	maxCheckLen   = 32
)

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

func (c *AttemptBlamed) apply(f *FSM, index uint64) Result {
	ev, err := hex.DecodeString(c.EvidenceSHA256)
	switch {
	case c.Culprit == "" || c.Accuser == "" || c.Culprit == c.Accuser:
		return Result{Err: fmt.Errorf("attempt blamed: %w: culprit and accuser must be two members", ErrInvalidCommand)}
	case !validCheck(c.Check):
		return Result{Err: fmt.Errorf("attempt blamed: %w: check %.40q is not a check name", ErrInvalidCommand, c.Check)}
	case err != nil || len(ev) != 32 || c.EvidenceSHA256 != strings.ToLower(c.EvidenceSHA256):
		return Result{Err: fmt.Errorf("attempt blamed: %w: evidence must be a SHA-256 in lower-case hex", ErrInvalidCommand)}
	}
	if c.flood() {
		if !f.shareAKey(c.Culprit, c.Accuser) {
			return Result{Err: fmt.Errorf("attempt blamed: %w: %s and %s hold no key together", ErrInvalidCommand, c.Culprit, c.Accuser)}
		}
		return f.accuse(index, c, "")
	}
	s, ok := f.st.Signs[c.RequestID]
	if !ok {
		return Result{Err: fmt.Errorf("attempt blamed: %w: no request %.64q", ErrStale, c.RequestID)}
	}
	k := f.st.Keys[s.Key]
	switch {
	case k == nil:
		return Result{Err: fmt.Errorf("attempt blamed: %w: %q", ErrUnknownKey, s.Key)}
	case c.Attempt < 1 || c.Attempt > s.Attempt:
		return Result{Err: fmt.Errorf("attempt blamed: %w: request %q has no attempt %d", ErrInvalidCommand, c.RequestID, c.Attempt)}
	case !k.HasMember(c.Culprit) || !k.HasMember(c.Accuser):
		return Result{Err: fmt.Errorf("attempt blamed: %w: culprit and accuser must be members of %q", ErrInvalidCommand, k.Name)}
	case c.Attempt == s.Attempt && !slices.Contains(s.Committee, c.Culprit):
		// Earlier attempts' committees are not kept; the current one is.
		// The accuser may be outside it: a FROST coordinator need not sign.
		return Result{Err: fmt.Errorf("attempt blamed: %w: the culprit must be in attempt %d's committee", ErrInvalidCommand, c.Attempt)}
	}
	return f.accuse(index, c, k.Name)
}

// shareAKey reports whether some key is held by both a and b.
func (f *FSM) shareAKey(a, b string) bool {
	for _, k := range f.st.Keys {
		if k.HasMember(a) && k.HasMember(b) {
			return true
		}
	}
	return false
}

// accuse records an accepted accusation (key "" for a flood) and applies
// the exclusion rule.
func (f *FSM) accuse(index uint64, c *AttemptBlamed, key string) Result {
	b := f.st.Blame[c.Culprit]
	if b == nil {
		b = &Blame{}
		f.st.Blame[c.Culprit] = b
	}
	for _, a := range b.Accusations {
		if a.Accuser == c.Accuser && a.RequestID == c.RequestID && a.Attempt == c.Attempt {
			return Result{Duplicate: true, Note: f.blameNote(c.Culprit, b)}
		}
	}
	now, window := f.st.Time, int64(f.cfg.BlameExclusion)
	b.Accusations = slices.DeleteFunc(b.Accusations, func(a Accusation) bool { return a.Time < now-window })
	b.Accusations = append(b.Accusations, Accusation{Accuser: c.Accuser, Key: key, RequestID: c.RequestID, Attempt: c.Attempt,
		Check: c.Check, Evidence: c.EvidenceSHA256, Time: now, Index: index})
	if mine := slices.IndexFunc(b.Accusations, func(a Accusation) bool { return a.Accuser == c.Accuser }); mine >= 0 &&
		countBy(b.Accusations, c.Accuser) > maxPerAccuser {
		b.Accusations = slices.Delete(b.Accusations, mine, mine+1) // that accuser's oldest
	}
	b.Total++
	if f.excludes(c.Culprit, b) {
		b.ExcludedUntil = now + window
	}
	return Result{Note: f.blameNote(c.Culprit, b)}
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
func (f *FSM) excludes(culprit string, b *Blame) bool {
	accusers := map[string]map[string]bool{} // key -> accusers
	count := func(k *Key, accuser string) bool {
		if k == nil || !k.HasMember(accuser) {
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
			if count(f.st.Keys[a.Key], a.Accuser) {
				return true
			}
			continue
		}
		for _, k := range f.st.Keys { // any order: the answer is whether some key gets there
			if k.HasMember(culprit) && count(k, a.Accuser) {
				return true
			}
		}
	}
	return false
}

// blameNote says, for the audit record, where member stands.
func (f *FSM) blameNote(member string, b *Blame) string {
	accusers := map[string]bool{}
	for _, a := range b.Accusations {
		accusers[a.Accuser] = true
	}
	note := fmt.Sprintf("%s accused %d time(s), by %v within %s", member, b.Total, slices.Sorted(maps.Keys(accusers)), f.cfg.BlameExclusion)
	if b.ExcludedUntil > f.st.Time {
		note += fmt.Sprintf("; excluded from committees until %s", time.Unix(0, b.ExcludedUntil).UTC().Format(time.RFC3339))
	} else {
		note += "; recorded only (fewer than threshold+1 distinct accusers of one key)"
	}
	return note
}

func (c *ClearBlame) apply(f *FSM, _ uint64) Result {
	if c.Member == "" {
		return Result{Err: fmt.Errorf("clear blame: %w: no member named", ErrInvalidCommand)}
	}
	// It steers every key's committees: a cluster-wide change, as the
	// policy is.
	if err := verdictErr(policy.Decide(f.policy(), f.request(c.Actor, policy.ActSetPolicy, "", nil)), "clear blame of", c.Member); err != nil {
		return Result{Err: err}
	}
	b, ok := f.st.Blame[c.Member]
	if !ok {
		return Result{Duplicate: true, Note: c.Member + " has no blame record"}
	}
	delete(f.st.Blame, c.Member)
	note := fmt.Sprintf("%s: %d accusation(s) forgotten", c.Member, b.Total)
	if b.ExcludedUntil > f.st.Time {
		note += "; exclusion lifted"
	}
	return Result{Note: note}
}

// Excluded returns the members excluded from committees at now (unix
// nanoseconds), sorted. The picker on the leader asks with its own clock:
// exclusion is a preference among committees, not a safety property.
func (f *FSM) Excluded(now int64) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []string
	for m, b := range f.st.Blame {
		if b.ExcludedUntil > now {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// BlameOf returns a copy of member's blame record.
func (f *FSM) BlameOf(member string) (*Blame, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, ok := f.st.Blame[member]
	if !ok {
		return nil, false
	}
	return b.clone(), true
}

// BlamedIn returns the members accused in attempt of requestID, sorted.
func (f *FSM) BlamedIn(requestID string, attempt uint32) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []string
	for m, b := range f.st.Blame {
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

// records puts the culprit and the check in the reason; the evidence is a
// hash, never the bytes.
func (c *AttemptBlamed) records(f *FSM, res Result, r audit.Record) []audit.Record {
	r.Actor, r.RequestID = NodeActor(c.Accuser), c.RequestID
	if s := f.st.Signs[c.RequestID]; s != nil {
		r.Key, r.Version = s.Key, s.Version
	}
	switch {
	case res.Err != nil:
	case c.flood():
		r.Reason = fmt.Sprintf("%s flooded round messages (evidence sha256 %s); %s", c.Culprit, c.EvidenceSHA256, res.Note)
	default:
		r.Reason = fmt.Sprintf("attempt %d: %s failed check %s (evidence sha256 %s); %s", c.Attempt, c.Culprit, c.Check, c.EvidenceSHA256, res.Note)
	}
	return []audit.Record{r}
}

func (c *ClearBlame) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Actor = c.Actor
	if res.Err == nil {
		r.Reason = res.Note
	}
	return []audit.Record{r}
}
