package consensus

import (
	"crypto/sha256"
	"fmt"
	"slices"
)

func (f *FSM) signRequested(index uint64, c *SignRequested) Result {
	hash := sha256.Sum256(c.Digest)
	rerun := false
	if s, ok := f.st.Signs[c.RequestID]; ok {
		if s.Key != c.Key || s.DigestHash != hash {
			return Result{Err: fmt.Errorf("sign request %q: %w", c.RequestID, ErrRequestConflict)}
		}
		if s.State != SignStateFailed {
			return Result{Sign: s.clone(), Duplicate: true}
		}
		// A failed request never produced a signature, so running it again
		// under the same id cannot change an outcome a client has seen. The
		// failed record stays until the new request is known to be valid.
		rerun = true
	}
	k, ok := f.st.Keys[c.Key]
	if !ok {
		return Result{Err: fmt.Errorf("sign with %q: %w", c.Key, ErrUnknownKey)}
	}
	if k.State != KeyActive {
		return Result{Err: fmt.Errorf("sign with %q (%s): %w", c.Key, k.State, ErrKeyNotActive)}
	}
	if err := f.crypto.CheckMessage(k.Algorithm, c.Digest); err != nil {
		return Result{Err: fmt.Errorf("sign with %q: %w: %w", c.Key, ErrInvalidCommand, err)}
	}
	if err := checkCommittee(k, c.Committee); err != nil {
		return Result{Err: fmt.Errorf("sign with %q: %w", c.Key, err)}
	}
	if c.RequestID == "" {
		return Result{Err: fmt.Errorf("sign with %q: %w: request id is required", c.Key, ErrInvalidCommand)}
	}
	if f.st.Pending >= f.cfg.MaxPendingSigns {
		return Result{Err: fmt.Errorf("sign with %q: %w", c.Key, ErrTooManyPending)}
	}
	if c.Presig != "" {
		if err := f.consumePresig(k, c); err != nil {
			return Result{Err: fmt.Errorf("sign with %q: %w", c.Key, err)}
		}
	}
	s := &Sign{
		RequestID:    c.RequestID,
		Key:          c.Key,
		Version:      k.Version,
		DigestHash:   hash,
		Digest:       slices.Clone(c.Digest),
		State:        SignStatePending,
		Attempt:      1,
		Committee:    slices.Clone(c.Committee),
		SessionIndex: index,
		Actor:        c.Actor,
		Time:         f.st.Time,
		Presig:       c.Presig,
	}
	if rerun {
		f.forget(c.RequestID)
	}
	f.st.Signs[c.RequestID] = s
	f.st.Pending++
	return Result{Sign: s.clone()}
}

func (f *FSM) signRetry(index uint64, c *SignRetry) Result {
	s, k, err := f.pending(c.RequestID, c.Attempt-1)
	if err != nil {
		return Result{Err: fmt.Errorf("retry %q: %w", c.RequestID, err)}
	}
	if err := checkCommittee(k, c.Committee); err != nil {
		return Result{Err: fmt.Errorf("retry %q: %w", c.RequestID, err)}
	}
	s.Attempt = c.Attempt
	s.Committee = slices.Clone(c.Committee)
	s.Presig = "" // a retry runs the full protocol: the presignature is spent
	s.SessionIndex = index
	s.Reason = c.Reason
	return Result{Sign: s.clone()}
}

func (f *FSM) signCompleted(index uint64, c *SignCompleted) Result {
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
	if k == nil || k.Version != s.Version || !f.crypto.Verify(k.Algorithm, k.PublicKey, s.Digest, c.Signature) {
		return Result{Err: fmt.Errorf("signature for %q from %s: %w", c.RequestID, c.Node, ErrBadSignature)}
	}
	s.Signature = slices.Clone(c.Signature)
	s.Signer = c.Node
	f.finish(index, s, SignStateCompleted)
	return Result{Sign: s.clone()}
}

func (f *FSM) signFailed(index uint64, c *SignFailed) Result {
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
// finished records beyond the de-duplication bound.
func (f *FSM) finish(index uint64, s *Sign, st SignState) {
	s.State = st
	s.Digest = nil
	s.Index = index
	f.st.Pending--
	f.st.SignOrder = append(f.st.SignOrder, s.RequestID)
	for len(f.st.SignOrder) > f.cfg.MaxSignRecords {
		delete(f.st.Signs, f.st.SignOrder[0])
		f.st.SignOrder = f.st.SignOrder[1:]
	}
}

// forget removes a finished request so its id can be used again.
func (f *FSM) forget(requestID string) {
	delete(f.st.Signs, requestID)
	if i := slices.Index(f.st.SignOrder, requestID); i >= 0 {
		f.st.SignOrder = slices.Delete(f.st.SignOrder, i, i+1)
	}
}

func checkCommittee(k *Key, committee []string) error {
	if len(committee) != k.Threshold+1 || hasDuplicates(committee) {
		return fmt.Errorf("%w: committee must be %d distinct members", ErrInvalidCommand, k.Threshold+1)
	}
	for _, m := range committee {
		if !k.HasMember(m) {
			return fmt.Errorf("%w: %s is not a member of %q", ErrInvalidCommand, m, k.Name)
		}
	}
	return nil
}
