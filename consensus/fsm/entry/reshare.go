package entry

// Commands of resharing.
const (
	// TypeReshareKey starts a reshare of a key version.
	TypeReshareKey CommandType = "reshare_key"
	// TypeSharesShredded reports that a former holder shredded its shares.
	TypeSharesShredded CommandType = "shares_shredded"
)

// ReshareKey reshares a version of Key (0: the primary) to Members with
// Threshold, dealt by Committee: exactly threshold+1 current holders the
// leader reaches. Members are chosen by the leader (the live holders for a
// refresh, the cluster's holders for a membership change); Threshold by the
// client, or the key's.
type ReshareKey struct {
	RequestID string   `json:"request_id"`
	Key       string   `json:"key"`
	Version   uint32   `json:"version,omitempty"`
	Members   []string `json:"members"`
	Threshold int      `json:"threshold"`
	Committee []string `json:"committee"`
	// Reason says why the holders change, for the audit trail.
	Reason string `json:"reason,omitempty"`
	Actor  string `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
}

// SharesShredded reports that Node, a former holder of Key, deleted every
// share file it had of the key.
type SharesShredded struct {
	Key  string `json:"key"`
	Node string `json:"node"`
}

func (ReshareKey) Type() CommandType      { return TypeReshareKey }
func (c *ReshareKey) Stamp(t int64)       { c.Time = t }
func (c *ReshareKey) StampTime() int64    { return c.Time }
func (SharesShredded) Type() CommandType  { return TypeSharesShredded }
func (c SharesShredded) Reporter() string { return c.Node }
