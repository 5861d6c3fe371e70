package entry

// Commands of the blame record.
const (
	// TypeAttemptBlamed reports that a member named a culprit for an
	// aborted signing attempt.
	TypeAttemptBlamed CommandType = "attempt_blamed"
	// TypeClearBlame clears a member's accusations and exclusion.
	TypeClearBlame CommandType = "clear_blame"
)

// AttemptBlamed is an accuser's report that Culprit's message or share in
// attempt Attempt of request RequestID failed Check. EvidenceSHA256 is the
// hex SHA-256 of what the accuser received (or, when no bytes are at fault,
// of the check's description); it lets logs and accusations be matched,
// not proven.
type AttemptBlamed struct {
	RequestID      string `json:"request_id"`
	Attempt        uint32 `json:"attempt"`
	Culprit        string `json:"culprit"`
	Accuser        string `json:"accuser"`
	Check          string `json:"check"`
	EvidenceSHA256 string `json:"evidence_sha256"`
}

func (AttemptBlamed) Type() CommandType  { return TypeAttemptBlamed }
func (c AttemptBlamed) Reporter() string { return c.Accuser }

// ClearBlame forgets Member's accusations and lifts its exclusion; an
// operator proposes it.
type ClearBlame struct {
	Member string `json:"member"`
	Actor  string `json:"actor"`
	Time   int64  `json:"time"`
}

func (ClearBlame) Type() CommandType   { return TypeClearBlame }
func (c *ClearBlame) Stamp(t int64)    { c.Time = t }
func (c *ClearBlame) StampTime() int64 { return c.Time }
