// Package signs is the state machine's table of signing requests: each
// request's record from the entry that asked for it, through its attempts
// (each with its committee, the share epoch it signs at and the
// presignature or FROST commitments it consumed), to its signature or
// failure. While pending a record holds the digest, which the committee
// needs; once done it keeps only the digest's hash, enough to recognise a
// duplicate request, and the finished records are remembered by count
// and age as package dedup remembers lifecycle requests.
//
// A request signed in a dual-sign window has a companion record that
// signs the same input with the window's version (DualRequestID). The
// package is pure, as package fsm is.
package signs

import (
	"fmt"
	"maps"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/dedup"
	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
	"github.com/keyquorum/keyquorum/consensus/fsm/handles"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
)

// State is the state of one signing request.
type State string

// Signing request states.
const (
	Pending   State = "pending"
	Completed State = "completed"
	Failed    State = "failed"
)

// Sign is the replicated record of one signing request, keyed by request id.
// While pending it holds the digest, which the committee needs; once done it
// keeps only the digest's hash, enough to recognise a duplicate request.
type Sign struct {
	RequestID  string   `json:"request_id"`
	Key        string   `json:"key"`
	Version    uint32   `json:"version"`
	DigestHash [32]byte `json:"digest_hash"`
	Digest     []byte   `json:"digest,omitempty"`
	State      State    `json:"state"`
	Attempt    uint32   `json:"attempt"`
	Committee  []string `json:"committee"`
	// SessionIndex is the log index of the entry that started the current
	// attempt; with the request id and attempt it derives the session id.
	SessionIndex uint64 `json:"session_index"`
	Signature    []byte `json:"signature,omitempty"`
	Signer       string `json:"signer,omitempty"` // member whose report was recorded
	Reason       string `json:"reason,omitempty"`
	Index        uint64 `json:"index"` // log index of the entry that ended the request
	Actor        string `json:"actor"`
	Time         int64  `json:"time"`
	// Ended is the replicated time the request ended; the de-duplication
	// age counts from it, so a retry that comes soon after a long request
	// still finds its outcome. Records from before it was kept have 0.
	Ended  int64  `json:"ended,omitempty"`
	Presig string `json:"presig,omitempty"` // presignature the current attempt consumes
	// Frost is the FROST commitments the current attempt consumed, one per
	// committee member in committee order; empty on the tss-lib path.
	Frost []pool.Commitment `json:"frost,omitempty"`
	// Epoch is the share epoch the current attempt signs with.
	Epoch uint32 `json:"epoch"`
	// HandleProof is the SHA-256 of the handle's token the request was made
	// with; a retry must present the same.
	HandleProof [32]byte `json:"handle_proof"`
	// Dual names the companion request that signs the same input with the
	// dual-sign version; Parent names the request a companion belongs to.
	Dual   string `json:"dual,omitempty"`
	Parent string `json:"parent,omitempty"`
}

// Clone returns a deep copy.
func (s *Sign) Clone() *Sign {
	c := *s
	c.Digest = slices.Clone(s.Digest)
	c.Committee = slices.Clone(s.Committee)
	c.Signature = slices.Clone(s.Signature)
	c.Frost = slices.Clone(s.Frost)
	for i := range c.Frost {
		c.Frost[i] = *s.Frost[i].Clone()
	}
	return &c
}

// endTime is when a finished request ended, for records that say so, else
// when it was made.
func (s *Sign) endTime() int64 {
	if s.Ended != 0 {
		return s.Ended
	}
	return s.Time
}

// DualRequestID names the companion record of a dual-signed request.
// Client request ids may not contain '#', so it cannot collide with one.
func DualRequestID(requestID string, version uint32) string {
	return fmt.Sprintf("%s#v%d", requestID, version)
}

// Request is a new signing request as the table records it.
type Request struct {
	ID          string
	Key         string
	DigestHash  [32]byte
	Digest      []byte
	Committee   []string
	HandleProof [32]byte
	Actor       string
}

// New returns the pending record of r's first attempt with version v,
// started by entry index at now.
func New(r *Request, v *keys.Version, index uint64, now int64) *Sign {
	return &Sign{
		RequestID:    r.ID,
		Key:          r.Key,
		Version:      v.Number,
		Epoch:        v.Epoch,
		DigestHash:   r.DigestHash,
		Digest:       slices.Clone(r.Digest),
		State:        Pending,
		Attempt:      1,
		Committee:    slices.Clone(r.Committee),
		SessionIndex: index,
		Actor:        r.Actor,
		Time:         now,
		HandleProof:  r.HandleProof,
	}
}

// Retry moves s to attempt with committee, started by entry index, at the
// version's current epoch (a refresh may have finished since). A retry
// runs the full protocol: the presignature and FROST commitments of the
// previous attempt are spent.
func (s *Sign) Retry(attempt uint32, committee []string, epoch uint32, index uint64, reason string) {
	s.Attempt = attempt
	s.Epoch = epoch
	s.Committee = slices.Clone(committee)
	s.Presig = ""
	s.Frost = nil
	s.SessionIndex = index
	s.Reason = reason
}

// Records is the signing table: the records by request id, the finished
// ones' ids oldest first for eviction, and an index of the pending ones.
type Records struct {
	Signs     map[string]*Sign `json:"signs"`
	SignOrder []string         `json:"sign_order"` // finished request ids, oldest first, for eviction
	// pending indexes the pending requests of Signs, so that a revocation
	// and the supervisor never scan the whole table (up to MaxSignRecords).
	// It is derived from Signs: not in snapshots, rebuilt on restore.
	pending map[string]bool
}

// NewRecords returns an empty table.
func NewRecords() Records { return Records{Signs: map[string]*Sign{}, pending: map[string]bool{}} }

// Reindex rebuilds the pending index from Signs, after a restore.
func (t *Records) Reindex() {
	t.pending = map[string]bool{}
	for id, s := range t.Signs {
		if s.State == Pending {
			t.pending[id] = true
		}
	}
}

// PendingCount returns how many requests are pending.
func (t *Records) PendingCount() int { return len(t.pending) }

// PendingIDs returns the pending requests' ids, sorted, so every replica
// walks them in the same order.
func (t *Records) PendingIDs() []string { return slices.Sorted(maps.Keys(t.pending)) }

// PendingOf returns the pending requests of a key version, sorted.
func (t *Records) PendingOf(key string, version uint32) []string {
	var out []string
	for id := range t.pending {
		if s := t.Signs[id]; s.Key == key && s.Version == version {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// Prior returns the record a new request r meets at now: nil when its id
// is new, or its finished record is past the age (which it forgets). A
// record of other input, or a companion's id, is a conflict; a record made
// with another handle is denied. rerun is true for a failed record: a
// failed request never produced a signature, so running it again under
// the same id cannot change an outcome a client has seen; the failed
// record stays until the new request is known to be valid.
func (t *Records) Prior(r *Request, now int64, b dedup.Bounds) (s *Sign, rerun bool, err error) {
	if s, ok := t.Signs[r.ID]; ok && s.State != Pending && b.Expired(s.endTime(), now) {
		t.Forget(r.ID) // past the de-duplication age: a new request
	}
	s, ok := t.Signs[r.ID]
	if !ok {
		return nil, false, nil
	}
	if s.Key != r.Key || s.DigestHash != r.DigestHash || s.Parent != "" {
		return nil, false, fmt.Errorf("sign request %q: %w", r.ID, fsmerr.ErrRequestConflict)
	}
	// A retry must present the handle the request was made with: the id
	// and the input are not secrets, the handle is.
	if !handles.SameProof(s.HandleProof, r.HandleProof) {
		return nil, false, fmt.Errorf("sign request %q: %w: not the handle the request was made with", r.ID, handles.ErrHandleDenied)
	}
	return s, s.State == Failed, nil
}

// CheckCompanion refuses r when the companion dual of an earlier request
// under its id still runs for other input or another handle: it is
// adopted only by the same request.
func (t *Records) CheckCompanion(r *Request, dual string) error {
	d, ok := t.Signs[dual]
	if !ok || d.State != Pending {
		return nil
	}
	if d.DigestHash != r.DigestHash || d.Key != r.Key {
		return fmt.Errorf("sign request %q: %w: its dual-sign companion still signs another input", r.ID, fsmerr.ErrRequestConflict)
	}
	if !handles.SameProof(d.HandleProof, r.HandleProof) {
		return fmt.Errorf("sign request %q: %w: not the handle the request was made with", r.ID, handles.ErrHandleDenied)
	}
	return nil
}

// Start records the pending request s, replacing a failed record of its
// id, and its companion d when it has one. A companion still running from
// an earlier attempt under the id (its parent failed, or finished and was
// evicted) carries on instead of d.
func (t *Records) Start(s, d *Sign, rerun bool) {
	if rerun {
		t.Forget(s.RequestID)
	}
	if d != nil {
		s.Dual = d.RequestID
		if old, ok := t.Signs[d.RequestID]; !ok || old.State != Pending {
			t.Forget(d.RequestID)
			d.Parent = s.RequestID
			t.add(d)
		}
	}
	t.add(s)
}

func (t *Records) add(s *Sign) {
	t.Signs[s.RequestID] = s
	t.pending[s.RequestID] = true
}

// Attempt returns the pending request whose current attempt is attempt;
// a report about any other is stale.
func (t *Records) Attempt(requestID string, attempt uint32) (*Sign, error) {
	s, ok := t.Signs[requestID]
	if !ok || s.State != Pending || s.Attempt != attempt {
		return nil, fsmerr.ErrStale
	}
	return s, nil
}

// Finish ends the pending request s in state st at entry index and time
// now, drops its digest and evicts the oldest finished records beyond b.
func (t *Records) Finish(s *Sign, st State, index uint64, now int64, b dedup.Bounds) {
	s.State = st
	s.Digest, s.Frost = nil, nil
	s.Index, s.Ended = index, now
	delete(t.pending, s.RequestID)
	t.SignOrder = append(t.SignOrder, s.RequestID)
	t.SignOrder = dedup.Evict(t.Signs, t.SignOrder, b.Max, func(old *Sign) bool { return !b.Expired(old.endTime(), now) })
}

// Forget removes a finished request, and its finished companion, so the
// id can be used again.
func (t *Records) Forget(requestID string) {
	ids := []string{requestID}
	if s := t.Signs[requestID]; s != nil && s.Dual != "" {
		if d := t.Signs[s.Dual]; d != nil && d.State != Pending {
			ids = append(ids, s.Dual)
		}
	}
	for _, id := range ids {
		delete(t.Signs, id)
		t.SignOrder = dedup.Forget(t.SignOrder, id)
	}
}

// Check refuses a restored table that applying a later entry would panic
// on: a null record, or a pending one that names no key version.
func (t *Records) Check(ks keys.Table) error {
	for id, s := range t.Signs {
		switch {
		case s == nil:
			return fmt.Errorf("signing request %q is null", id)
		case s.State == Pending && !ks.HasVersion(s.Key, s.Version):
			return fmt.Errorf("pending signing request %q names no key version", id)
		}
	}
	return nil
}
