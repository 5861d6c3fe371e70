package entry

// TypeSetLimits replaces the replicated limits.
const TypeSetLimits CommandType = "set_limits"

// SetLimits sets the limits every replica applies entries under. Times are
// nanoseconds.
type SetLimits struct {
	MaxHandleTTL     int64  `json:"max_handle_ttl"`
	RequestRecordAge int64  `json:"request_record_age"`
	Actor            string `json:"actor"`
	Time             int64  `json:"time"`
}

func (SetLimits) Type() CommandType   { return TypeSetLimits }
func (c *SetLimits) Stamp(t int64)    { c.Time = t }
func (c *SetLimits) StampTime() int64 { return c.Time }

// TypeNodeSettings reports a member's local settings.
const TypeNodeSettings CommandType = "node_settings"

// NodeSettings is a member's fingerprint of its security-relevant local
// settings, reported at start and whenever they differ from what the
// state holds for it. No secret is among them.
type NodeSettings struct {
	Node     string            `json:"node"`
	Settings map[string]string `json:"settings"`
}

func (NodeSettings) Type() CommandType  { return TypeNodeSettings }
func (c NodeSettings) Reporter() string { return c.Node }
