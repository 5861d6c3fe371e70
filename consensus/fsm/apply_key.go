package fsm

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/audit"
)

// keyCommands are a key's creation and its members' reports of key
// generation.
func keyCommands() []commandSpec {
	return []commandSpec{
		spec[CreateKey](ProtocolV1),
		spec[ShareStored](ProtocolV1),
		spec[KeygenFailed](ProtocolV1),
	}
}

// The key commands: a key's creation and its members' reports of key
// generation.
const (
	TypeCreateKey    CommandType = "create_key"
	TypeShareStored  CommandType = "share_stored"
	TypeKeygenFailed CommandType = "keygen_failed"
)

// CreateKey starts distributed key generation among Members.
type CreateKey struct {
	RequestID string   `json:"request_id"`
	Name      string   `json:"name"`
	Algorithm string   `json:"algorithm"`
	Threshold int      `json:"threshold"`
	Members   []string `json:"members"`
	// Purposes label the handles the key may be used under; empty means
	// DefaultPurpose.
	Purposes        []string `json:"purposes,omitempty"`
	DeletionAllowed bool     `json:"deletion_allowed,omitempty"`
	Actor           string   `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"` // unix nanoseconds, stamped by the leader
}

// ShareStored reports that Node sealed its share of a key version and
// derived PublicKey from it.
type ShareStored struct {
	Key       string `json:"key"`
	Version   uint32 `json:"version"`
	Node      string `json:"node"`
	PublicKey []byte `json:"public_key"`
}

// KeygenFailed ends a key generation that cannot finish.
type KeygenFailed struct {
	Key     string `json:"key"`
	Version uint32 `json:"version"`
	Node    string `json:"node"`
	Reason  string `json:"reason"`
}

func (CreateKey) Type() CommandType    { return TypeCreateKey }
func (ShareStored) Type() CommandType  { return TypeShareStored }
func (KeygenFailed) Type() CommandType { return TypeKeygenFailed }

func (c *CreateKey) Stamp(t int64)    { c.Time = t }
func (c *CreateKey) StampTime() int64 { return c.Time }

func (c ShareStored) Reporter() string  { return c.Node }
func (c KeygenFailed) Reporter() string { return c.Node }

func (c *CreateKey) apply(f *FSM, index uint64) Result {
	if k, ok := f.st.Keys[c.Name]; ok {
		if k.CreateRequestID == c.RequestID && k.Algorithm == c.Algorithm && k.Threshold == c.Threshold &&
			k.DeletionAllowed == c.DeletionAllowed {
			return Result{Key: k.clone(), Duplicate: true}
		}
		return Result{Err: fmt.Errorf("create key %q: %w", c.Name, ErrKeyExists)}
	}
	if err := f.checkCreate(c); err != nil {
		return Result{Err: fmt.Errorf("create key %q: %w", c.Name, err)}
	}
	purposes := slices.Sorted(slices.Values(c.Purposes))
	if len(purposes) == 0 {
		purposes = []string{DefaultPurpose}
	}
	k := &Key{
		Name:            c.Name,
		Algorithm:       c.Algorithm,
		Threshold:       c.Threshold,
		Members:         slices.Sorted(slices.Values(c.Members)),
		Purposes:        purposes,
		Versions:        []*Version{{Number: 1, State: KeyGenerating, CreatedIndex: index, RequestID: c.RequestID, Created: f.st.Time}},
		DeletionAllowed: c.DeletionAllowed,
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
	case len(c.Purposes) > MaxPurposes || hasDuplicates(c.Purposes) || slices.Contains(c.Purposes, ""):
		return fmt.Errorf("%w: up to %d distinct, non-empty purposes", ErrInvalidCommand, MaxPurposes)
	}
	return f.checkPreParams(c.Algorithm, c.Members)
}

// checkPreParams refuses ECDSA key generation until every member holds
// pre-parameters: starting without them would only stall.
func (f *FSM) checkPreParams(algorithm string, members []string) error {
	if algorithm != "ecdsa-secp256k1" {
		return nil
	}
	for _, m := range members {
		if !f.st.PreParams[m] {
			return fmt.Errorf("%w on %s", ErrPreParamsNotReady, m)
		}
	}
	return nil
}

// DefaultPurpose is the purpose of a key created without any.
const DefaultPurpose = "sign"

// MaxPurposes bounds the purposes of one key.
const MaxPurposes = 16

func (c *ShareStored) apply(f *FSM, _ uint64) Result {
	k, v, err := f.generating(c.Key, c.Version)
	if err != nil {
		return Result{Key: k, Err: fmt.Errorf("share: %w", err)}
	}
	if !k.HasMember(c.Node) || len(c.PublicKey) == 0 {
		return Result{Err: fmt.Errorf("share for %q from %s: %w", c.Key, c.Node, ErrInvalidCommand)}
	}
	if slices.Contains(v.Confirmed, c.Node) {
		return Result{Key: k.clone(), Version: v.Number, Duplicate: true}
	}
	if v.PublicKey != nil && !bytes.Equal(v.PublicKey, c.PublicKey) {
		v.State = KeyFailed
		v.Failure = fmt.Sprintf("members disagree on the public key (%s differs)", c.Node)
		return Result{Key: k.clone(), Version: v.Number}
	}
	v.PublicKey = slices.Clone(c.PublicKey)
	v.Confirmed = append(v.Confirmed, c.Node)
	slices.Sort(v.Confirmed)
	if len(v.Confirmed) == len(k.Members) {
		// The first version becomes primary at once; a rotation's version
		// waits, staged, for an operator to promote it.
		v.State = KeyStaged
		if k.Primary == 0 && v.Number == 1 {
			v.State, k.Primary = KeyActive, 1
		}
	}
	return Result{Key: k.clone(), Version: v.Number}
}

func (c *KeygenFailed) apply(f *FSM, _ uint64) Result {
	k, v, err := f.generating(c.Key, c.Version)
	if err != nil {
		return Result{Key: k, Err: fmt.Errorf("keygen failure: %w", err)}
	}
	v.State = KeyFailed
	v.Failure = fmt.Sprintf("%s: %s", c.Node, c.Reason)
	return Result{Key: k.clone(), Version: v.Number}
}

// generating returns a key version whose generation is running. On a
// stale report it returns a copy of the key as it is.
func (f *FSM) generating(key string, version uint32) (*Key, *Version, error) {
	k, ok := f.st.Keys[key]
	if !ok {
		return nil, nil, fmt.Errorf("%q: %w", key, ErrUnknownKey)
	}
	v := k.Version(version)
	if v == nil || v.State != KeyGenerating {
		return k.clone(), nil, fmt.Errorf("%q v%d: %w", key, version, ErrStale)
	}
	return k, v, nil
}

func hasDuplicates(xs []string) bool {
	s := slices.Sorted(slices.Values(xs))
	return len(slices.Compact(s)) != len(xs)
}

func (c *CreateKey) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Op, r.Actor, r.Key, r.RequestID = "create_key", c.Actor, c.Name, c.RequestID
	if res.Key != nil {
		r.Version = 1
	}
	return []audit.Record{r}
}

func (c *ShareStored) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Actor, r.Key, r.Version = NodeActor(c.Node), c.Key, c.Version
	if k := res.Key; k != nil && res.Err == nil && !res.Duplicate {
		switch v := k.Version(c.Version); v.State {
		case KeyFailed:
			r.Outcome, r.Reason = audit.OutcomeFailed, v.Failure
		case KeyActive, KeyStaged:
			r.PublicKey = hex.EncodeToString(v.PublicKey)
		}
	}
	return []audit.Record{r}
}

func (c *KeygenFailed) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Actor, r.Key, r.Version = NodeActor(c.Node), c.Key, c.Version
	if res.Err == nil {
		r.Outcome, r.Reason = audit.OutcomeFailed, c.Reason
	}
	return []audit.Record{r}
}
