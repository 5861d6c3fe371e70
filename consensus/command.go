package consensus

import (
	"encoding/json"
	"fmt"
)

// CommandType names one kind of replicated command.
type CommandType string

// The commands the FSM applies. Requests (create, sign) are proposed by the
// leader; reports (share stored, signature done) come from the members that
// did the work, through the leader.
const (
	TypeCreateKey      CommandType = "create_key"
	TypeShareStored    CommandType = "share_stored"
	TypeKeygenFailed   CommandType = "keygen_failed"
	TypeSignRequested  CommandType = "sign_requested"
	TypeSignRetry      CommandType = "sign_retry"
	TypeSignCompleted  CommandType = "sign_completed"
	TypeSignFailed     CommandType = "sign_failed"
	TypePreParamsReady CommandType = "preparams_ready"

	TypePresignRequested CommandType = "presign_requested"
	TypePresignReady     CommandType = "presign_ready"
	TypePresignDiscarded CommandType = "presign_discarded"
	TypeNodeBooted       CommandType = "node_booted"
)

// Command is one entry of the replicated log.
type Command interface {
	Type() CommandType
}

// Report is a command a member proposes about its own work or state: a
// stored share, a signature, a parked presignature, a restart. The leader
// appends a report forwarded by a member only when Reporter names that
// member, so no node can speak for another.
type Report interface {
	Command
	Reporter() string
}

func (c ShareStored) Reporter() string      { return c.Node }
func (c KeygenFailed) Reporter() string     { return c.Node }
func (c SignCompleted) Reporter() string    { return c.Node }
func (c PreParamsReady) Reporter() string   { return c.Node }
func (c PresignReady) Reporter() string     { return c.Node }
func (c PresignDiscarded) Reporter() string { return c.Node }
func (c NodeBooted) Reporter() string       { return c.Node }
func (c AuditDenials) Reporter() string     { return c.Node }

// CreateKey starts distributed key generation among Members.
type CreateKey struct {
	RequestID string   `json:"request_id"`
	Name      string   `json:"name"`
	Algorithm string   `json:"algorithm"`
	Threshold int      `json:"threshold"`
	Members   []string `json:"members"`
	Actor     string   `json:"actor"`
	Time      int64    `json:"time"` // unix nanoseconds, stamped by the leader
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

// SignRequested asks Committee to sign Digest with the key's current version.
type SignRequested struct {
	RequestID string   `json:"request_id"`
	Key       string   `json:"key"`
	Digest    []byte   `json:"digest"`
	Committee []string `json:"committee"`
	Actor     string   `json:"actor"`
	Time      int64    `json:"time"`
	// Presig names a ready presignature of Committee to consume, or is
	// empty for the full protocol.
	Presig string `json:"presig,omitempty"`
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

// PreParamsReady reports that Node holds sealed ECDSA pre-parameters and can
// join ECDSA key generation.
type PreParamsReady struct {
	Node string `json:"node"`
}

// PresignRequested asks Committee to run the message-independent rounds of
// an ECDSA signature with the key's current version and park the session.
type PresignRequested struct {
	ID        string   `json:"id"`
	Key       string   `json:"key"`
	Committee []string `json:"committee"`
	Time      int64    `json:"time"`
	TTL       int64    `json:"ttl"` // nanoseconds from Time until the presignature expires
}

// PresignReady reports that Node parked its half of presignature ID during
// the process life Boot.
type PresignReady struct {
	ID   string `json:"id"`
	Node string `json:"node"`
	Boot string `json:"boot"`
}

// PresignDiscarded ends a presignature that failed, stalled or expired.
type PresignDiscarded struct {
	ID     string `json:"id"`
	Node   string `json:"node"`
	Reason string `json:"reason"`
}

// NodeBooted records a new process life of Node. Parked sessions live in
// memory only, so every presignature that Node took part in dies with it.
type NodeBooted struct {
	Node string `json:"node"`
	Boot string `json:"boot"`
}

func (PresignRequested) Type() CommandType { return TypePresignRequested }
func (PresignReady) Type() CommandType     { return TypePresignReady }
func (PresignDiscarded) Type() CommandType { return TypePresignDiscarded }
func (NodeBooted) Type() CommandType       { return TypeNodeBooted }

func (CreateKey) Type() CommandType      { return TypeCreateKey }
func (ShareStored) Type() CommandType    { return TypeShareStored }
func (KeygenFailed) Type() CommandType   { return TypeKeygenFailed }
func (SignRequested) Type() CommandType  { return TypeSignRequested }
func (SignRetry) Type() CommandType      { return TypeSignRetry }
func (SignCompleted) Type() CommandType  { return TypeSignCompleted }
func (SignFailed) Type() CommandType     { return TypeSignFailed }
func (PreParamsReady) Type() CommandType { return TypePreParamsReady }

type envelope struct {
	Type CommandType     `json:"type"`
	Body json.RawMessage `json:"body"`
}

// Encode serialises a command for the log.
func Encode(c Command) ([]byte, error) {
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("consensus: encode %s: %w", c.Type(), err)
	}
	return json.Marshal(envelope{Type: c.Type(), Body: body})
}

// Decode parses a command written by Encode.
func Decode(data []byte) (Command, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("consensus: decode command: %w", err)
	}
	var c Command
	switch env.Type {
	case TypeCreateKey:
		c = &CreateKey{}
	case TypeShareStored:
		c = &ShareStored{}
	case TypeKeygenFailed:
		c = &KeygenFailed{}
	case TypeSignRequested:
		c = &SignRequested{}
	case TypeSignRetry:
		c = &SignRetry{}
	case TypeSignCompleted:
		c = &SignCompleted{}
	case TypeSignFailed:
		c = &SignFailed{}
	case TypePreParamsReady:
		c = &PreParamsReady{}
	case TypeAuditDenials:
		c = &AuditDenials{}
	case TypeAuditCheckpoint:
		c = &AuditCheckpoint{}
	case TypePresignRequested:
		c = &PresignRequested{}
	case TypePresignReady:
		c = &PresignReady{}
	case TypePresignDiscarded:
		c = &PresignDiscarded{}
	case TypeNodeBooted:
		c = &NodeBooted{}
	default:
		return nil, fmt.Errorf("consensus: %w: %q", ErrUnknownCommand, env.Type)
	}
	if err := json.Unmarshal(env.Body, c); err != nil {
		return nil, fmt.Errorf("consensus: decode %s: %w", env.Type, err)
	}
	return c, nil
}
