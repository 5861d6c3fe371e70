package consensus

import (
	"bytes"
	"fmt"
	"slices"
)

func (f *FSM) createKey(index uint64, c *CreateKey) Result {
	if k, ok := f.st.Keys[c.Name]; ok {
		if k.CreateRequestID == c.RequestID && k.Algorithm == c.Algorithm && k.Threshold == c.Threshold {
			return Result{Key: k.clone(), Duplicate: true}
		}
		return Result{Err: fmt.Errorf("create key %q: %w", c.Name, ErrKeyExists)}
	}
	if err := f.checkCreate(c); err != nil {
		return Result{Err: fmt.Errorf("create key %q: %w", c.Name, err)}
	}
	k := &Key{
		Name:            c.Name,
		Algorithm:       c.Algorithm,
		Version:         1,
		Threshold:       c.Threshold,
		Members:         slices.Sorted(slices.Values(c.Members)),
		State:           KeyGenerating,
		CreatedIndex:    index,
		CreatedTime:     f.st.Time,
		CreateRequestID: c.RequestID,
	}
	f.st.Keys[c.Name] = k
	return Result{Key: k.clone()}
}

func (f *FSM) checkCreate(c *CreateKey) error {
	switch {
	case len(f.st.Keys) >= f.cfg.MaxKeys:
		return ErrTooManyKeys
	case c.Name == "" || c.RequestID == "":
		return fmt.Errorf("%w: name and request id are required", ErrInvalidCommand)
	case !f.crypto.KnownAlgorithm(c.Algorithm):
		return fmt.Errorf("%w: unknown algorithm %q", ErrInvalidCommand, c.Algorithm)
	case c.Threshold < 1 || c.Threshold >= len(c.Members):
		return fmt.Errorf("%w: threshold %d needs 1 <= t < %d members", ErrInvalidCommand, c.Threshold, len(c.Members))
	case hasDuplicates(c.Members):
		return fmt.Errorf("%w: duplicate member", ErrInvalidCommand)
	}
	if c.Algorithm == "ecdsa-secp256k1" {
		for _, m := range c.Members {
			if !f.st.PreParams[m] {
				return fmt.Errorf("%w on %s", ErrPreParamsNotReady, m)
			}
		}
	}
	return nil
}

func (f *FSM) shareStored(c *ShareStored) Result {
	k, ok := f.st.Keys[c.Key]
	if !ok {
		return Result{Err: fmt.Errorf("share for %q: %w", c.Key, ErrUnknownKey)}
	}
	if k.Version != c.Version || k.State != KeyGenerating {
		return Result{Key: k.clone(), Err: fmt.Errorf("share for %q v%d: %w", c.Key, c.Version, ErrStale)}
	}
	if !k.HasMember(c.Node) || len(c.PublicKey) == 0 {
		return Result{Err: fmt.Errorf("share for %q from %s: %w", c.Key, c.Node, ErrInvalidCommand)}
	}
	if slices.Contains(k.Confirmed, c.Node) {
		return Result{Key: k.clone(), Duplicate: true}
	}
	if k.PublicKey != nil && !bytes.Equal(k.PublicKey, c.PublicKey) {
		k.State = KeyFailed
		k.Failure = fmt.Sprintf("members disagree on the public key (%s differs)", c.Node)
		return Result{Key: k.clone()}
	}
	k.PublicKey = slices.Clone(c.PublicKey)
	k.Confirmed = append(k.Confirmed, c.Node)
	slices.Sort(k.Confirmed)
	if len(k.Confirmed) == len(k.Members) {
		k.State = KeyActive
	}
	return Result{Key: k.clone()}
}

func (f *FSM) keygenFailed(c *KeygenFailed) Result {
	k, ok := f.st.Keys[c.Key]
	if !ok {
		return Result{Err: fmt.Errorf("keygen failure for %q: %w", c.Key, ErrUnknownKey)}
	}
	if k.Version != c.Version || k.State != KeyGenerating {
		return Result{Key: k.clone(), Err: fmt.Errorf("keygen failure for %q v%d: %w", c.Key, c.Version, ErrStale)}
	}
	k.State = KeyFailed
	k.Failure = fmt.Sprintf("%s: %s", c.Node, c.Reason)
	return Result{Key: k.clone()}
}

func hasDuplicates(xs []string) bool {
	s := slices.Sorted(slices.Values(xs))
	return len(slices.Compact(s)) != len(xs)
}
