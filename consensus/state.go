package consensus

import (
	"errors"
	"slices"
)

// KeyState is the lifecycle state of a key version.
type KeyState string

// Key version states.
const (
	KeyGenerating KeyState = "generating"
	KeyActive     KeyState = "active"
	KeyFailed     KeyState = "failed"
)

// SignState is the state of one signing request.
type SignState string

// Signing request states.
const (
	SignStatePending   SignState = "pending"
	SignStateCompleted SignState = "completed"
	SignStateFailed    SignState = "failed"
)

// Key is the replicated record of one key. It holds public facts only; each
// member keeps its share sealed on its own disk.
type Key struct {
	Name            string   `json:"name"`
	Algorithm       string   `json:"algorithm"`
	Version         uint32   `json:"version"`
	Threshold       int      `json:"threshold"`
	Members         []string `json:"members"`
	State           KeyState `json:"state"`
	PublicKey       []byte   `json:"public_key,omitempty"`
	Confirmed       []string `json:"confirmed,omitempty"` // members that stored a share, sorted
	Failure         string   `json:"failure,omitempty"`
	CreatedIndex    uint64   `json:"created_index"`
	CreatedTime     int64    `json:"created_time"`
	CreateRequestID string   `json:"create_request_id"`
}

func (k *Key) clone() *Key {
	c := *k
	c.Members = slices.Clone(k.Members)
	c.PublicKey = slices.Clone(k.PublicKey)
	c.Confirmed = slices.Clone(k.Confirmed)
	return &c
}

// HasMember reports whether node holds a share of the key.
func (k *Key) HasMember(node string) bool { return slices.Contains(k.Members, node) }

// Sign is the replicated record of one signing request, keyed by request id.
// While pending it holds the digest, which the committee needs; once done it
// keeps only the digest's hash, enough to recognise a duplicate request.
type Sign struct {
	RequestID  string    `json:"request_id"`
	Key        string    `json:"key"`
	Version    uint32    `json:"version"`
	DigestHash [32]byte  `json:"digest_hash"`
	Digest     []byte    `json:"digest,omitempty"`
	State      SignState `json:"state"`
	Attempt    uint32    `json:"attempt"`
	Committee  []string  `json:"committee"`
	// SessionIndex is the log index of the entry that started the current
	// attempt; with the request id and attempt it derives the session id.
	SessionIndex uint64 `json:"session_index"`
	Signature    []byte `json:"signature,omitempty"`
	Signer       string `json:"signer,omitempty"` // member whose report was recorded
	Reason       string `json:"reason,omitempty"`
	Index        uint64 `json:"index"` // log index of the entry that ended the request
	Actor        string `json:"actor"`
	Time         int64  `json:"time"`
	Presig       string `json:"presig,omitempty"` // presignature the current attempt consumes
}

func (s *Sign) clone() *Sign {
	c := *s
	c.Digest = slices.Clone(s.Digest)
	c.Committee = slices.Clone(s.Committee)
	c.Signature = slices.Clone(s.Signature)
	return &c
}

// state is everything the FSM replicates; a snapshot is this value as JSON.
type state struct {
	Keys      map[string]*Key    `json:"keys"`
	Signs     map[string]*Sign   `json:"signs"`
	SignOrder []string           `json:"sign_order"` // finished request ids, oldest first, for eviction
	Pending   int                `json:"pending"`
	PreParams map[string]bool    `json:"preparams"`
	Presigs   map[string]*Presig `json:"presigs"`
	Boots     map[string]string  `json:"boots"` // node -> its current process life
	// Time is the largest command time applied; the FSM never moves it back,
	// so a leader with a slow clock cannot rewind replicated time.
	Time int64 `json:"time"`
	// Audit is the audit chain's head and recent records; nil while audit
	// is off (see FSM.EnableAudit).
	Audit *auditState `json:"audit,omitempty"`
}

func newState() *state {
	return &state{Keys: map[string]*Key{}, Signs: map[string]*Sign{}, PreParams: map[string]bool{},
		Presigs: map[string]*Presig{}, Boots: map[string]string{}}
}

// Errors returned as the result of applying a command. They are part of the
// replicated outcome: every replica returns the same one for the same entry.
var (
	// ErrUnknownCommand is returned for a log entry of an unknown type.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrKeyExists is returned when a key name is taken by another request.
	ErrKeyExists = errors.New("key already exists")
	// ErrUnknownKey is returned when no key has the given name.
	ErrUnknownKey = errors.New("unknown key")
	// ErrKeyNotActive is returned when a key is still generating or failed.
	ErrKeyNotActive = errors.New("key is not active")
	// ErrRequestConflict is returned when a request id is reused with other input.
	ErrRequestConflict = errors.New("request id already used with different input")
	// ErrInvalidCommand is returned for a command whose fields break an invariant.
	ErrInvalidCommand = errors.New("invalid command")
	// ErrPreParamsNotReady is returned when an ECDSA key is requested before
	// every member holds pre-parameters.
	ErrPreParamsNotReady = errors.New("pre-parameters not ready")
	// ErrTooManyPending is returned when the pending signing table is full.
	ErrTooManyPending = errors.New("too many pending signing requests")
	// ErrTooManyKeys is returned when the key table is full.
	ErrTooManyKeys = errors.New("too many keys")
	// ErrStale is returned for a report about an attempt or version that has moved on.
	ErrStale = errors.New("stale report")
	// ErrPresigUnavailable is returned when a sign request names a
	// presignature that is unknown, used, not ready, expired, or of another
	// key, version or committee.
	ErrPresigUnavailable = errors.New("presignature unavailable")
	// ErrTooManyPresigs is returned when a key's presignature pool is full.
	ErrTooManyPresigs = errors.New("too many presignatures")
	// ErrBadSignature is returned when a reported signature does not verify.
	ErrBadSignature = errors.New("signature does not verify")
)
