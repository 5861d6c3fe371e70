package entry

// The lifecycle commands: key versions, refresh and destruction.
const (
	TypeChangeKey      CommandType = "change_key"
	TypeDestroyDue     CommandType = "destroy_due"
	TypeShareDestroyed CommandType = "share_destroyed"
	TypeShareRefreshed CommandType = "share_refreshed"
	TypeRefreshFailed  CommandType = "refresh_failed"
)

// KeyOp names one lifecycle change of a key.
type KeyOp string

// Lifecycle changes carried by ChangeKey.
const (
	OpRotate        KeyOp = "rotate"         // generate version latest+1, staged
	OpPromote       KeyOp = "promote"        // make Version primary
	OpRollback      KeyOp = "rollback"       // make an older active version primary again
	OpRetire        KeyOp = "retire"         // Version verifies only
	OpRevoke        KeyOp = "revoke"         // Version neither signs nor verifies
	OpPolicy        KeyOp = "policy"         // floors and deletion_allowed
	OpDestroy       KeyOp = "destroy"        // schedule Version's destruction after Delay
	OpCancelDestroy KeyOp = "cancel_destroy" // unschedule it
	OpRefresh       KeyOp = "refresh"        // reshare Version to new shares
)

// ChangeKey is one operator change of a key's lifecycle. Fields other than
// RequestID, Op and Key matter only to the ops that name them.
type ChangeKey struct {
	RequestID string `json:"request_id"`
	Op        KeyOp  `json:"op"`
	Key       string `json:"key"`
	// Version is the version acted on; 0 picks the op's default (promote:
	// the newest staged; rollback: the newest active below the primary;
	// retire, revoke, refresh: the primary).
	Version uint32 `json:"version,omitempty"`
	// DualSign (promote) is how long the previous primary keeps signing
	// alongside the new one, in nanoseconds; 0 opens no window.
	DualSign int64 `json:"dual_sign,omitempty"`
	// Policy fields; nil leaves a setting unchanged.
	MinSignVersion   *uint32 `json:"min_sign_version,omitempty"`
	MinVerifyVersion *uint32 `json:"min_verify_version,omitempty"`
	DeletionAllowed  *bool   `json:"deletion_allowed,omitempty"`
	// Delay (destroy) is the pending period in nanoseconds.
	Delay int64 `json:"delay,omitempty"`
	// Committee (refresh) is the old holders that deal the new shares,
	// chosen by the leader.
	Committee []string `json:"committee,omitempty"`
	Actor     string   `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
}

// DestroyDue executes a destruction whose pending period has passed; the
// leader proposes it.
type DestroyDue struct {
	Key     string `json:"key"`
	Version uint32 `json:"version"`
	Time    int64  `json:"time"`
}

// ShareDestroyed reports that Node deleted its share of a destroyed version.
type ShareDestroyed struct {
	Key     string `json:"key"`
	Version uint32 `json:"version"`
	Node    string `json:"node"`
}

// ShareRefreshed reports that Node sealed its new share of a version at
// Epoch, with the unchanged PublicKey.
type ShareRefreshed struct {
	Key       string `json:"key"`
	Version   uint32 `json:"version"`
	Epoch     uint32 `json:"epoch"`
	Node      string `json:"node"`
	PublicKey []byte `json:"public_key"`
}

// RefreshFailed abandons a refresh; the old shares stay in use.
type RefreshFailed struct {
	Key     string `json:"key"`
	Version uint32 `json:"version"`
	Epoch   uint32 `json:"epoch"`
	Node    string `json:"node"`
	Reason  string `json:"reason"`
}

func (ChangeKey) Type() CommandType      { return TypeChangeKey }
func (DestroyDue) Type() CommandType     { return TypeDestroyDue }
func (ShareDestroyed) Type() CommandType { return TypeShareDestroyed }
func (ShareRefreshed) Type() CommandType { return TypeShareRefreshed }
func (RefreshFailed) Type() CommandType  { return TypeRefreshFailed }

func (c *ChangeKey) Stamp(t int64)     { c.Time = t }
func (c *DestroyDue) Stamp(t int64)    { c.Time = t }
func (c *ChangeKey) StampTime() int64  { return c.Time }
func (c *DestroyDue) StampTime() int64 { return c.Time }

func (c ShareDestroyed) Reporter() string { return c.Node }
func (c ShareRefreshed) Reporter() string { return c.Node }
func (c RefreshFailed) Reporter() string  { return c.Node }
