package entry

// The handle commands.
const (
	TypeIssueHandle  CommandType = "issue_handle"
	TypeRevokeHandle CommandType = "revoke_handle"
)

// IssueHandle grants a capability to sign with Key for Purpose until
// Time+TTL. The log holds only the token's SHA-256: the token itself is
// returned once, to the caller, and never stored.
type IssueHandle struct {
	RequestID string   `json:"request_id"`
	HandleID  string   `json:"handle_id"`
	TokenHash [32]byte `json:"token_hash"`
	Key       string   `json:"key"`
	Purpose   string   `json:"purpose"`
	TTL       int64    `json:"ttl"`      // nanoseconds
	MaxUses   uint32   `json:"max_uses"` // 0: unlimited until expiry
	Actor     string   `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
}

// RevokeHandle ends a handle before its expiry.
type RevokeHandle struct {
	RequestID string `json:"request_id"`
	HandleID  string `json:"handle_id"`
	Actor     string `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
}

func (IssueHandle) Type() CommandType  { return TypeIssueHandle }
func (RevokeHandle) Type() CommandType { return TypeRevokeHandle }

func (c *IssueHandle) Stamp(t int64)     { c.Time = t }
func (c *RevokeHandle) Stamp(t int64)    { c.Time = t }
func (c *IssueHandle) StampTime() int64  { return c.Time }
func (c *RevokeHandle) StampTime() int64 { return c.Time }
