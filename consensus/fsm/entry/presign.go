package entry

// The presignature commands, and the member reports they depend on.
const (
	TypePreParamsReady   CommandType = "preparams_ready"
	TypePresignRequested CommandType = "presign_requested"
	TypePresignReady     CommandType = "presign_ready"
	TypePresignDiscarded CommandType = "presign_discarded"
	TypeNodeBooted       CommandType = "node_booted"
)

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
	// Protocol is the newest protocol version the node's build supports;
	// absent means protocol 1.
	Protocol uint32 `json:"protocol,omitempty"`
}

func (PresignRequested) Type() CommandType { return TypePresignRequested }
func (PresignReady) Type() CommandType     { return TypePresignReady }
func (PresignDiscarded) Type() CommandType { return TypePresignDiscarded }
func (NodeBooted) Type() CommandType       { return TypeNodeBooted }
func (PreParamsReady) Type() CommandType   { return TypePreParamsReady }

func (c *PresignRequested) Stamp(t int64)    { c.Time = t }
func (c *PresignRequested) StampTime() int64 { return c.Time }

func (c PreParamsReady) Reporter() string   { return c.Node }
func (c PresignReady) Reporter() string     { return c.Node }
func (c PresignDiscarded) Reporter() string { return c.Node }
func (c NodeBooted) Reporter() string       { return c.Node }
