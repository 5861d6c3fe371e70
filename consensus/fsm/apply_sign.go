package fsm

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/audit"
)

// signCommands are a signing request and the entries that carry it to a
// signature or a failure.
func signCommands() []commandSpec {
	return []commandSpec{
		spec[SignRequested](ProtocolV1),
		spec[SignRetry](ProtocolV1),
		spec[SignCompleted](ProtocolV1),
		spec[SignFailed](ProtocolV1),
	}
}

// The sign commands: a signing request and the entries that carry it to
// a signature or a failure.
const (
	TypeSignRequested CommandType = "sign_requested"
	TypeSignRetry     CommandType = "sign_retry"
	TypeSignCompleted CommandType = "sign_completed"
	TypeSignFailed    CommandType = "sign_failed"
)

// SignRequested asks Committee to sign Digest with a version of Key. A
// client's request carries a handle: the FSM checks it at Time, so no
// node's clock can stretch its expiry.
type SignRequested struct {
	RequestID string `json:"request_id"`
	Key       string `json:"key"`
	// Handle and HandleProof (the SHA-256 of the handle's token) authorise
	// the request; only the cluster's own audit key signs without one.
	Handle      string   `json:"handle,omitempty"`
	HandleProof [32]byte `json:"handle_proof"`
	// Purpose, when set, must be the handle's purpose.
	Purpose string `json:"purpose,omitempty"`
	// Version picks a signing version; 0 means the primary.
	Version   uint32   `json:"version,omitempty"`
	Digest    []byte   `json:"digest"`
	Committee []string `json:"committee"`
	Actor     string   `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
	// Presig names a ready presignature of Committee to consume, or is
	// empty for the full protocol.
	Presig string `json:"presig,omitempty"`
	// Frost names one published FROST commitment per member, in Committee
	// order, for an Ed25519 request signed with FROST (apply_frost.go).
	Frost []string `json:"frost,omitempty"`
}

// SignRetry moves a pending signature to a new committee after the previous
// attempt stalled.
type SignRetry struct {
	RequestID string   `json:"request_id"`
	Attempt   uint32   `json:"attempt"`
	Committee []string `json:"committee"`
	Reason    string   `json:"reason"`
}

// SignCompleted carries a finished signature; every replica verifies it
// before recording it.
type SignCompleted struct {
	RequestID string `json:"request_id"`
	Attempt   uint32 `json:"attempt"`
	Node      string `json:"node"`
	Signature []byte `json:"signature"`
}

// SignFailed ends a pending signature after its last attempt.
type SignFailed struct {
	RequestID string `json:"request_id"`
	Attempt   uint32 `json:"attempt"`
	Reason    string `json:"reason"`
}

func (SignRequested) Type() CommandType { return TypeSignRequested }
func (SignRetry) Type() CommandType     { return TypeSignRetry }
func (SignCompleted) Type() CommandType { return TypeSignCompleted }
func (SignFailed) Type() CommandType    { return TypeSignFailed }

func (c *SignRequested) Stamp(t int64)    { c.Time = t }
func (c *SignRequested) StampTime() int64 { return c.Time }

func (c SignCompleted) Reporter() string { return c.Node }

func (c *SignRequested) apply(f *FSM, index uint64) Result {
	hash := sha256.Sum256(c.Digest)
	rerun := false
	if s, ok := f.st.Signs[c.RequestID]; ok && s.State != SignStatePending && f.expired(s.endTime()) {
		f.forgetSign(c.RequestID) // past the de-duplication age: a new request
	}
	if s, ok := f.st.Signs[c.RequestID]; ok {
		if s.Key != c.Key || s.DigestHash != hash || s.Parent != "" {
			return Result{Err: fmt.Errorf("sign request %q: %w", c.RequestID, ErrRequestConflict)}
		}
		// A retry must present the handle the request was made with: the
		// id and the input are not secrets, the handle is.
		if subtle.ConstantTimeCompare(s.HandleProof[:], c.HandleProof[:]) != 1 {
			return Result{Err: fmt.Errorf("sign request %q: %w: not the handle the request was made with", c.RequestID, ErrHandleDenied)}
		}
		if s.State != SignStateFailed {
			return Result{Sign: s.clone(), Duplicate: true}
		}
		// A failed request never produced a signature, so running it again
		// under the same id cannot change an outcome a client has seen. The
		// failed record stays until the new request is known to be valid.
		rerun = true
	}
	// The handle comes first: a caller learns nothing about a key its
	// handle does not grant, not even whether it exists.
	var h *Handle
	if c.Handle != "" || !IsAuditKey(c.Key) {
		var err error
		if h, err = f.checkHandle(c); err != nil {
			return Result{Err: fmt.Errorf("sign with %q: %w", c.Key, err)}
		}
	}
	k, ok := f.st.Keys[c.Key]
	if !ok {
		return Result{Err: fmt.Errorf("sign with %q: %w", c.Key, ErrUnknownKey)}
	}
	if k.Primary == 0 {
		return Result{Err: fmt.Errorf("sign with %q (%s): %w", c.Key, k.State(), ErrKeyNotActive)}
	}
	version := c.Version
	if version == 0 {
		version = k.Primary
	}
	if err := k.SignVersion(version); err != nil {
		return Result{Err: fmt.Errorf("sign with %q: %w", c.Key, err)}
	}
	if err := f.crypto.CheckMessage(k.Algorithm, c.Digest); err != nil {
		return Result{Err: fmt.Errorf("sign with %q: %w: %w", c.Key, ErrInvalidCommand, err)}
	}
	if err := k.CheckCommittee(c.Committee); err != nil {
		return Result{Err: fmt.Errorf("sign with %q: %w", c.Key, err)}
	}
	if c.RequestID == "" {
		return Result{Err: fmt.Errorf("sign with %q: %w: request id is required", c.Key, ErrInvalidCommand)}
	}
	dual := f.dualVersion(k, c.Version)
	if d, ok := f.st.Signs[DualRequestID(c.RequestID, dual)]; dual != 0 && ok && d.State == SignStatePending {
		// The companion of an earlier request under this id still runs; it
		// is adopted only by the same request.
		if d.DigestHash != hash || d.Key != c.Key {
			return Result{Err: fmt.Errorf("sign request %q: %w: its dual-sign companion still signs another input", c.RequestID, ErrRequestConflict)}
		}
		if subtle.ConstantTimeCompare(d.HandleProof[:], c.HandleProof[:]) != 1 {
			return Result{Err: fmt.Errorf("sign request %q: %w: not the handle the request was made with", c.RequestID, ErrHandleDenied)}
		}
	}
	if need := 1 + min(dual, 1); len(f.st.pending)+int(need) > f.cfg.MaxPendingSigns {
		return Result{Err: fmt.Errorf("sign with %q: %w", c.Key, ErrTooManyPending)}
	}
	if c.Presig != "" {
		if err := f.consumePresig(k, version, c); err != nil {
			return Result{Err: fmt.Errorf("sign with %q: %w", c.Key, err)}
		}
	}
	var frostUsed []FrostCommitment
	if len(c.Frost) > 0 {
		var err error
		if frostUsed, err = f.consumeFrost(k, version, c); err != nil {
			return Result{Err: fmt.Errorf("sign with %q: %w", c.Key, err)}
		}
	}
	if h != nil {
		h.Uses++
	}
	if rerun {
		f.forgetSign(c.RequestID)
	}
	s := f.newSign(index, c, hash, k.Version(version))
	s.Presig = c.Presig
	s.Frost = frostUsed
	if dual != 0 {
		s.Dual = DualRequestID(c.RequestID, dual)
		// A companion still running from an earlier attempt under this id
		// (its parent failed, or finished and was evicted) carries on.
		if d, ok := f.st.Signs[s.Dual]; !ok || d.State != SignStatePending {
			f.forgetSign(s.Dual)
			d := f.newSign(index, c, hash, k.Version(dual))
			d.RequestID, d.Parent = s.Dual, c.RequestID
			f.st.Signs[d.RequestID] = d
			f.st.pending[d.RequestID] = true
		}
	}
	f.st.Signs[c.RequestID] = s
	f.st.pending[c.RequestID] = true
	return Result{Sign: s.clone()}
}

// dualVersion returns the version that co-signs a request for the primary
// while a dual-sign window is open, or 0.
func (f *FSM) dualVersion(k *Key, requested uint32) uint32 {
	d := k.DualSign
	if d == nil || (requested != 0 && requested != k.Primary) || f.st.Time >= d.Until || k.SignVersion(d.Version) != nil {
		return 0
	}
	return d.Version
}

// DualRequestID names the companion record of a dual-signed request.
// Client request ids may not contain '#', so it cannot collide with one.
func DualRequestID(requestID string, version uint32) string {
	return fmt.Sprintf("%s#v%d", requestID, version)
}

func (f *FSM) newSign(index uint64, c *SignRequested, hash [32]byte, v *Version) *Sign {
	return &Sign{
		RequestID:    c.RequestID,
		Key:          c.Key,
		Version:      v.Number,
		Epoch:        v.Epoch,
		DigestHash:   hash,
		Digest:       slices.Clone(c.Digest),
		State:        SignStatePending,
		Attempt:      1,
		Committee:    slices.Clone(c.Committee),
		SessionIndex: index,
		Actor:        c.Actor,
		Time:         f.st.Time,
		HandleProof:  c.HandleProof,
	}
}

func (c *SignRetry) apply(f *FSM, index uint64) Result {
	s, k, err := f.pending(c.RequestID, c.Attempt-1)
	if err != nil {
		return Result{Err: fmt.Errorf("retry %q: %w", c.RequestID, err)}
	}
	if err := k.CheckCommittee(c.Committee); err != nil {
		return Result{Err: fmt.Errorf("retry %q: %w", c.RequestID, err)}
	}
	s.Attempt = c.Attempt
	s.Epoch = k.Version(s.Version).Epoch // a refresh may have finished since
	s.Committee = slices.Clone(c.Committee)
	s.Presig = "" // a retry runs the full protocol: the presignature is spent
	s.Frost = nil // and so are the FROST commitments
	s.SessionIndex = index
	s.Reason = c.Reason
	return Result{Sign: s.clone()}
}

func (c *SignCompleted) apply(f *FSM, index uint64) Result {
	s, ok := f.st.Signs[c.RequestID]
	if !ok {
		return Result{Err: fmt.Errorf("signature for %q: %w", c.RequestID, ErrStale)}
	}
	if s.State != SignStatePending {
		return Result{Sign: s.clone(), Duplicate: true}
	}
	k := f.st.Keys[s.Key]
	// Any attempt's signature is as good as another: every attempt signs the
	// same digest with the same key version, so the first valid one wins.
	// A revoked version's requests were failed by the revocation, so none
	// is pending here.
	if k == nil || k.Version(s.Version) == nil || !f.crypto.Verify(k.Algorithm, k.Version(s.Version).PublicKey, s.Digest, c.Signature) {
		return Result{Err: fmt.Errorf("signature for %q from %s: %w", c.RequestID, c.Node, ErrBadSignature)}
	}
	s.Signature = slices.Clone(c.Signature)
	s.Signer = c.Node
	f.finish(index, s, SignStateCompleted)
	return Result{Sign: s.clone()}
}

func (c *SignFailed) apply(f *FSM, index uint64) Result {
	s, _, err := f.pending(c.RequestID, c.Attempt)
	if err != nil {
		return Result{Err: fmt.Errorf("fail %q: %w", c.RequestID, err)}
	}
	s.Reason = c.Reason
	f.finish(index, s, SignStateFailed)
	return Result{Sign: s.clone()}
}

// pending returns the pending request whose current attempt is attempt.
func (f *FSM) pending(requestID string, attempt uint32) (*Sign, *Key, error) {
	s, ok := f.st.Signs[requestID]
	if !ok || s.State != SignStatePending || s.Attempt != attempt {
		return nil, nil, ErrStale
	}
	return s, f.st.Keys[s.Key], nil
}

// finish ends a pending request, drops its digest and evicts the oldest
// finished records beyond the de-duplication bounds (count and age).
func (f *FSM) finish(index uint64, s *Sign, st SignState) {
	s.State = st
	s.Digest, s.Frost = nil, nil
	s.Index, s.Ended = index, f.st.Time
	delete(f.st.pending, s.RequestID)
	f.st.SignOrder = append(f.st.SignOrder, s.RequestID)
	for len(f.st.SignOrder) > 0 {
		old := f.st.Signs[f.st.SignOrder[0]]
		if len(f.st.SignOrder) <= f.cfg.MaxSignRecords && old != nil && !f.expired(old.endTime()) {
			break
		}
		delete(f.st.Signs, f.st.SignOrder[0])
		f.st.SignOrder = f.st.SignOrder[1:]
	}
}

// endTime is when a finished request ended, for records that say so, else
// when it was made.
func (s *Sign) endTime() int64 {
	if s.Ended != 0 {
		return s.Ended
	}
	return s.Time
}

// forgetSign removes a finished request, and its finished companion, so
// the id can be used again.
func (f *FSM) forgetSign(requestID string) {
	ids := []string{requestID}
	if s := f.st.Signs[requestID]; s != nil && s.Dual != "" {
		if d := f.st.Signs[s.Dual]; d != nil && d.State != SignStatePending {
			ids = append(ids, s.Dual)
		}
	}
	for _, id := range ids {
		delete(f.st.Signs, id)
		if i := slices.Index(f.st.SignOrder, id); i >= 0 {
			f.st.SignOrder = slices.Delete(f.st.SignOrder, i, i+1)
		}
	}
}

// signRecord fills r from the signing request requestID: the one res
// carries, else the one in the state.
func (f *FSM) signRecord(r *audit.Record, res Result, requestID string) {
	r.RequestID = requestID
	s := res.Sign
	if s == nil {
		s = f.st.Signs[requestID]
	}
	if s != nil {
		r.Key, r.Version, r.InputSHA256 = s.Key, s.Version, hex.EncodeToString(s.DigestHash[:])
	}
}

func (c *SignRequested) records(f *FSM, res Result, r audit.Record) []audit.Record {
	r.Op, r.Actor = "sign", c.Actor
	f.signRecord(&r, res, c.RequestID)
	r.Key, r.InputSHA256 = c.Key, audit.InputHash(c.Digest)
	if k := f.st.Keys[c.Key]; r.Version == 0 && k != nil {
		r.Version = c.Version
		if r.Version == 0 {
			r.Version = k.Primary
		}
	}
	return []audit.Record{r}
}

func (c *SignRetry) records(f *FSM, res Result, r audit.Record) []audit.Record {
	f.signRecord(&r, res, c.RequestID)
	if res.Err == nil {
		r.Reason = c.Reason
	}
	return []audit.Record{r}
}

func (c *SignCompleted) records(f *FSM, res Result, r audit.Record) []audit.Record {
	r.Actor = NodeActor(c.Node)
	f.signRecord(&r, res, c.RequestID)
	return []audit.Record{r}
}

func (c *SignFailed) records(f *FSM, res Result, r audit.Record) []audit.Record {
	f.signRecord(&r, res, c.RequestID)
	if res.Err == nil {
		r.Outcome, r.Reason = audit.OutcomeFailed, c.Reason
	}
	return []audit.Record{r}
}
