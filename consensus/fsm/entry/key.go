package entry

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
	// keys.DefaultPurpose.
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
