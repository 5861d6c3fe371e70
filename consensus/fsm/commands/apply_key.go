package commands

import (
	"encoding/hex"
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
)

// keyCommands are a key's creation and its members' reports of key
// generation.
func keyCommands() []commandSpec {
	return []commandSpec{
		spec(protover.V1, applyCreateKey, recordsCreateKey),
		spec(protover.V1, applyShareStored, recordsShareStored),
		spec(protover.V1, applyKeygenFailed, recordsKeygenFailed),
	}
}

func applyCreateKey(f *Machine, c *entry.CreateKey, index uint64) Result {
	spec := &keys.Spec{Name: c.Name, RequestID: c.RequestID, Algorithm: c.Algorithm, Threshold: c.Threshold,
		Members: c.Members, Purposes: c.Purposes, DeletionAllowed: c.DeletionAllowed}
	if k, ok := f.st.Keys[c.Name]; ok {
		if k.MadeBy(spec) {
			return Result{Key: k.Clone(), Duplicate: true}
		}
		return Result{Err: fmt.Errorf("create key %q: %w", c.Name, ErrKeyExists)}
	}
	if err := f.checkCreate(spec); err != nil {
		return Result{Err: fmt.Errorf("create key %q: %w", c.Name, err)}
	}
	k := keys.New(spec, f.at(index))
	f.st.Keys[c.Name] = k
	return Result{Key: k.Clone()}
}

func (f *Machine) checkCreate(s *keys.Spec) error {
	if len(f.st.Keys) >= f.cfg.MaxKeys {
		return ErrTooManyKeys
	}
	if err := s.Check(f.crypto.KnownAlgorithm); err != nil {
		return err
	}
	return keys.CheckPreParams(f.st.PreParams, s.Algorithm, s.Members)
}

// at is where entry index applies, for the key table.
func (f *Machine) at(index uint64) keys.At { return keys.At{Index: index, Time: f.st.Time} }

func applyShareStored(f *Machine, c *entry.ShareStored, _ uint64) Result {
	k, v, err := f.generating(c.Key, c.Version)
	if err != nil {
		return Result{Key: k, Err: fmt.Errorf("share: %w", err)}
	}
	dup, err := k.StoreShare(v, c.Node, c.PublicKey)
	if err != nil {
		return Result{Err: err}
	}
	return Result{Key: k.Clone(), Version: v.Number, Duplicate: dup}
}

func applyKeygenFailed(f *Machine, c *entry.KeygenFailed, _ uint64) Result {
	k, v, err := f.generating(c.Key, c.Version)
	if err != nil {
		return Result{Key: k, Err: fmt.Errorf("keygen failure: %w", err)}
	}
	v.Fail(c.Node, c.Reason)
	return Result{Key: k.Clone(), Version: v.Number}
}

// generating returns a key version whose generation is running. On a
// stale report it returns a copy of the key as it is.
func (f *Machine) generating(key string, version uint32) (*keys.Key, *keys.Version, error) {
	k, ok := f.st.Keys[key]
	if !ok {
		return nil, nil, fmt.Errorf("%q: %w", key, ErrUnknownKey)
	}
	v, err := k.Generating(version)
	if err != nil {
		return k.Clone(), nil, err
	}
	return k, v, nil
}

func recordsCreateKey(_ *Machine, c *entry.CreateKey, res Result, r audit.Record) []audit.Record {
	r.Op, r.Actor, r.Key, r.RequestID = "create_key", c.Actor, c.Name, c.RequestID
	if res.Key != nil {
		r.Version = 1
	}
	return []audit.Record{r}
}

func recordsShareStored(_ *Machine, c *entry.ShareStored, res Result, r audit.Record) []audit.Record {
	r.Key, r.Version = c.Key, c.Version
	if k := res.Key; k != nil && res.Err == nil && !res.Duplicate {
		switch v := k.Version(c.Version); v.State {
		case keys.Failed:
			r.Outcome, r.Reason = audit.OutcomeFailed, v.Failure
		case keys.Active, keys.Staged:
			r.PublicKey = hex.EncodeToString(v.PublicKey)
		}
	}
	return []audit.Record{r}
}

func recordsKeygenFailed(_ *Machine, c *entry.KeygenFailed, res Result, r audit.Record) []audit.Record {
	r.Key, r.Version = c.Key, c.Version
	if res.Err == nil {
		r.Outcome, r.Reason = audit.OutcomeFailed, c.Reason
	}
	return []audit.Record{r}
}
