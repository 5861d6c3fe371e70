package entry

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
	// order, for an Ed25519 request signed with FROST (FrostCommitted).
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
