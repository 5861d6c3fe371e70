package commands

import (
	"fmt"
	"iter"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/authz"
	"github.com/keyquorum/keyquorum/consensus/fsm/blame"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
)

// blameCommands accuse members of misbehaving in a signing attempt, and
// clear accusations.
func blameCommands() []commandSpec {
	return []commandSpec{
		spec(protover.V2, applyAttemptBlamed, recordsAttemptBlamed),
		spec(protover.V2, applyClearBlame, recordsClearBlame),
	}
}

// The ledger and its exclusion rule are package blame's; the entries
// below feed it, and the key table is its view of who holds what.

// flood reports whether c accuses a flood rather than a signing attempt.
func flood(c *entry.AttemptBlamed) bool { return blame.IsFlood(c.Check, c.RequestID, c.Attempt) }

func applyAttemptBlamed(f *Machine, c *entry.AttemptBlamed, index uint64) Result {
	if err := blame.CheckReport(c.Culprit, c.Accuser, c.Check, c.EvidenceSHA256); err != nil {
		return Result{Err: err}
	}
	if flood(c) {
		if !blame.ShareAKey(blameKeys(f.st.Keys), c.Culprit, c.Accuser) {
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

// accuse records an accepted accusation (key "" for a flood) in the
// ledger, which applies the exclusion rule.
func (f *Machine) accuse(index uint64, c *entry.AttemptBlamed, key string) Result {
	note, dup := f.st.Blame.Accuse(c.Culprit, blame.Accusation{Accuser: c.Accuser, Key: key, RequestID: c.RequestID, Attempt: c.Attempt,
		Check: c.Check, Evidence: c.EvidenceSHA256, Time: f.st.Time, Index: index}, f.cfg.BlameExclusion, blameKeys(f.st.Keys))
	return Result{Duplicate: dup, Note: note}
}

// blameKeys is the key table as the blame ledger reads it.
type blameKeys map[string]*keys.Key

func blameKey(k *keys.Key) blame.Key {
	return blame.Key{Name: k.Name, Threshold: k.Threshold, Holders: k.Members}
}

func (ks blameKeys) Lookup(name string) (blame.Key, bool) {
	k, ok := ks[name]
	if !ok {
		return blame.Key{}, false
	}
	return blameKey(k), true
}

func (ks blameKeys) All() iter.Seq[blame.Key] {
	return func(yield func(blame.Key) bool) {
		for _, k := range ks {
			if !yield(blameKey(k)) {
				return
			}
		}
	}
}

func applyClearBlame(f *Machine, c *entry.ClearBlame, _ uint64) Result {
	if c.Member == "" {
		return Result{Err: fmt.Errorf("clear blame: %w: no member named", ErrInvalidCommand)}
	}
	// It steers every key's committees: a cluster-wide change, as the
	// policy is.
	if err := authz.Admin(f.policy(), c.Actor, "", "clear blame of", c.Member); err != nil {
		return Result{Err: err}
	}
	note, ok := f.st.Blame.Clear(c.Member, f.st.Time)
	return Result{Duplicate: !ok, Note: note}
}

// recordsAttemptBlamed puts the culprit and the check in the reason; the
// evidence is a hash, never the bytes.
func recordsAttemptBlamed(f *Machine, c *entry.AttemptBlamed, res Result, r audit.Record) []audit.Record {
	r.RequestID = c.RequestID
	if s := f.st.Signs[c.RequestID]; s != nil {
		r.Key, r.Version = s.Key, s.Version
	}
	switch {
	case res.Err != nil:
	case flood(c):
		r.Reason = fmt.Sprintf("%s flooded round messages (evidence sha256 %s); %s", c.Culprit, c.EvidenceSHA256, res.Note)
	default:
		r.Reason = fmt.Sprintf("attempt %d: %s failed check %s (evidence sha256 %s); %s", c.Attempt, c.Culprit, c.Check, c.EvidenceSHA256, res.Note)
	}
	return []audit.Record{r}
}

func recordsClearBlame(_ *Machine, c *entry.ClearBlame, res Result, r audit.Record) []audit.Record {
	r.Actor = c.Actor
	if res.Err == nil {
		r.Reason = res.Note
	}
	return []audit.Record{r}
}
