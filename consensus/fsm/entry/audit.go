package entry

// The audit commands.
const (
	TypeAuditDenials    CommandType = "audit_denials"
	TypeAuditCheckpoint CommandType = "audit_checkpoint"
)

// AuditDenials carries refusals a member saw before anything reached the
// log (bad input, unknown key, ...), aggregated per (actor, op, reason)
// over one window. Each entry becomes one chained audit record.
type AuditDenials struct {
	Node        string        `json:"node"` // the member that saw the refusals
	WindowStart int64         `json:"window_start"`
	WindowEnd   int64         `json:"window_end"`
	Entries     []DenialEntry `json:"entries"`
}

// DenialEntry counts the refusals of one (actor, op, reason) in a window.
type DenialEntry struct {
	Actor  string `json:"actor"`
	Op     string `json:"op"`
	Reason string `json:"reason"`
	Count  uint64 `json:"count"`
}

// AuditCheckpoint records the audit key's signature over the chain head at
// Seq. The leader proposes it once the checkpoint's signing request, under
// RequestID, completed.
type AuditCheckpoint struct {
	RequestID string `json:"request_id"`
	Key       string `json:"key"` // the audit key (AuditKeyName)
	Seq       uint64 `json:"seq"`
	Head      string `json:"head"`
	Signature []byte `json:"signature"`
	Actor     string `json:"actor"`
	Time      int64  `json:"time"`
}

func (AuditDenials) Type() CommandType    { return TypeAuditDenials }
func (AuditCheckpoint) Type() CommandType { return TypeAuditCheckpoint }

func (c *AuditCheckpoint) Stamp(t int64)    { c.Time = t }
func (c *AuditCheckpoint) StampTime() int64 { return c.Time }

func (c AuditDenials) Reporter() string { return c.Node }
