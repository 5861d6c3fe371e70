package commands

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/handles"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/fsm/signs"
)

// signCommands are a signing request and the entries that carry it to a
// signature or a failure.
func signCommands() []commandSpec {
	return []commandSpec{
		spec(protover.V1, applySignRequested, recordsSignRequested),
		spec(protover.V1, applySignRetry, recordsSignRetry),
		spec(protover.V1, applySignCompleted, recordsSignCompleted),
		spec(protover.V1, applySignFailed, recordsSignFailed),
	}
}

func applySignRequested(f *Machine, c *entry.SignRequested, index uint64) Result {
	r := &signs.Request{ID: c.RequestID, Key: c.Key, DigestHash: sha256.Sum256(c.Digest), Digest: c.Digest,
		Committee: c.Committee, HandleProof: c.HandleProof, Actor: c.Actor}
	prior, rerun, err := f.st.Records.Prior(r, f.st.Time, f.signBounds())
	switch {
	case err != nil:
		return Result{Err: err}
	case prior != nil && !rerun:
		return Result{Sign: prior.Clone(), Duplicate: true}
	}
	// The handle comes first: a caller learns nothing about a key its
	// handle does not grant, not even whether it exists.
	var h *handles.Handle
	if c.Handle != "" || !entry.IsAuditKey(c.Key) {
		var err error
		if h, err = f.st.Handles.Authorize(c.Handle, c.HandleProof, c.Key, c.Purpose, f.st.Time); err != nil {
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
	dual := k.DualVersion(c.Version, f.st.Time)
	if dual != 0 {
		if err := f.st.Records.CheckCompanion(r, signs.DualRequestID(c.RequestID, dual)); err != nil {
			return Result{Err: err}
		}
	}
	if need := 1 + min(dual, 1); f.st.Records.PendingCount()+int(need) > f.cfg.MaxPendingSigns {
		return Result{Err: fmt.Errorf("sign with %q: %w", c.Key, ErrTooManyPending)}
	}
	epoch := k.Version(version).Epoch
	if c.Presig != "" {
		if err := f.st.Presigs.Consume(c.Presig, k.Name, version, epoch, c.Committee, f.st.Time); err != nil {
			return Result{Err: fmt.Errorf("sign with %q: %w", c.Key, err)}
		}
	}
	var frostUsed []pool.Commitment
	if len(c.Frost) > 0 {
		var err error
		if frostUsed, err = f.consumeFrost(k, version, c); err != nil {
			return Result{Err: fmt.Errorf("sign with %q: %w", c.Key, err)}
		}
	}
	if h != nil {
		h.Uses++
	}
	s := signs.New(r, k.Version(version), index, f.st.Time)
	s.Presig = c.Presig
	s.Frost = frostUsed
	var d *signs.Sign
	if dual != 0 {
		d = signs.New(r, k.Version(dual), index, f.st.Time)
		d.RequestID = signs.DualRequestID(c.RequestID, dual)
	}
	f.st.Records.Start(s, d, rerun)
	return Result{Sign: s.Clone()}
}

func applySignRetry(f *Machine, c *entry.SignRetry, index uint64) Result {
	s, err := f.st.Records.Attempt(c.RequestID, c.Attempt-1)
	if err != nil {
		return Result{Err: fmt.Errorf("retry %q: %w", c.RequestID, err)}
	}
	k := f.st.Keys[s.Key]
	if err := k.CheckCommittee(c.Committee); err != nil {
		return Result{Err: fmt.Errorf("retry %q: %w", c.RequestID, err)}
	}
	s.Retry(c.Attempt, c.Committee, k.Version(s.Version).Epoch, index, c.Reason)
	return Result{Sign: s.Clone()}
}

func applySignCompleted(f *Machine, c *entry.SignCompleted, index uint64) Result {
	s, ok := f.st.Signs[c.RequestID]
	if !ok {
		return Result{Err: fmt.Errorf("signature for %q: %w", c.RequestID, ErrStale)}
	}
	if s.State != signs.Pending {
		return Result{Sign: s.Clone(), Duplicate: true}
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
	f.finish(index, s, signs.Completed)
	return Result{Sign: s.Clone()}
}

func applySignFailed(f *Machine, c *entry.SignFailed, index uint64) Result {
	s, err := f.st.Records.Attempt(c.RequestID, c.Attempt)
	if err != nil {
		return Result{Err: fmt.Errorf("fail %q: %w", c.RequestID, err)}
	}
	s.Reason = c.Reason
	f.finish(index, s, signs.Failed)
	return Result{Sign: s.Clone()}
}

// finish ends a pending request (package signs).
func (f *Machine) finish(index uint64, s *signs.Sign, st signs.State) {
	f.st.Records.Finish(s, st, index, f.st.Time, f.signBounds())
}

// signRecord fills r from the signing request requestID: the one res
// carries, else the one in the state.
func (f *Machine) signRecord(r *audit.Record, res Result, requestID string) {
	r.RequestID = requestID
	s := res.Sign
	if s == nil {
		s = f.st.Signs[requestID]
	}
	if s != nil {
		r.Key, r.Version, r.InputSHA256 = s.Key, s.Version, hex.EncodeToString(s.DigestHash[:])
	}
}

func recordsSignRequested(f *Machine, c *entry.SignRequested, res Result, r audit.Record) []audit.Record {
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

func recordsSignRetry(f *Machine, c *entry.SignRetry, res Result, r audit.Record) []audit.Record {
	f.signRecord(&r, res, c.RequestID)
	if res.Err == nil {
		r.Reason = c.Reason
	}
	return []audit.Record{r}
}

func recordsSignCompleted(f *Machine, c *entry.SignCompleted, res Result, r audit.Record) []audit.Record {
	f.signRecord(&r, res, c.RequestID)
	return []audit.Record{r}
}

func recordsSignFailed(f *Machine, c *entry.SignFailed, res Result, r audit.Record) []audit.Record {
	f.signRecord(&r, res, c.RequestID)
	if res.Err == nil {
		r.Outcome, r.Reason = audit.OutcomeFailed, c.Reason
	}
	return []audit.Record{r}
}
