package fsm

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

// Stamped is a command that carries the time it was proposed at, stamped by
// the leader: replicated time advances to the largest stamp applied, and
// handle expiry, destroy windows and record ages are judged against it.
// The node stamps every such command in one place, through its bounded
// clock (node/clock.Bound), just before proposing it.
type Stamped interface {
	Command
	// Stamp sets the command's time, in unix nanoseconds.
	Stamp(unixNano int64)
	// StampTime returns it.
	StampTime() int64
}

func (c *CreateKey) Stamp(t int64)        { c.Time = t }
func (c *SignRequested) Stamp(t int64)    { c.Time = t }
func (c *PresignRequested) Stamp(t int64) { c.Time = t }
func (c *IssueHandle) Stamp(t int64)      { c.Time = t }
func (c *RevokeHandle) Stamp(t int64)     { c.Time = t }
func (c *ChangeKey) Stamp(t int64)        { c.Time = t }
func (c *DestroyDue) Stamp(t int64)       { c.Time = t }
func (c *AuditCheckpoint) Stamp(t int64)  { c.Time = t }

func (c *CreateKey) StampTime() int64        { return c.Time }
func (c *SignRequested) StampTime() int64    { return c.Time }
func (c *PresignRequested) StampTime() int64 { return c.Time }
func (c *IssueHandle) StampTime() int64      { return c.Time }
func (c *RevokeHandle) StampTime() int64     { return c.Time }
func (c *ChangeKey) StampTime() int64        { return c.Time }
func (c *DestroyDue) StampTime() int64       { return c.Time }
func (c *AuditCheckpoint) StampTime() int64  { return c.Time }

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
	// Purposes label the handles the key may be used under; empty means
	// DefaultPurpose.
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
	// order, for an Ed25519 request signed with FROST (apply_frost.go).
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
	// absent means ProtocolV1.
	Protocol uint32 `json:"protocol,omitempty"`
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

// Lifecycle commands: handles, key versions, refresh and destruction.
const (
	TypeIssueHandle    CommandType = "issue_handle"
	TypeRevokeHandle   CommandType = "revoke_handle"
	TypeChangeKey      CommandType = "change_key"
	TypeDestroyDue     CommandType = "destroy_due"
	TypeShareDestroyed CommandType = "share_destroyed"
	TypeShareRefreshed CommandType = "share_refreshed"
	TypeRefreshFailed  CommandType = "refresh_failed"
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

func (IssueHandle) Type() CommandType    { return TypeIssueHandle }
func (RevokeHandle) Type() CommandType   { return TypeRevokeHandle }
func (ChangeKey) Type() CommandType      { return TypeChangeKey }
func (DestroyDue) Type() CommandType     { return TypeDestroyDue }
func (ShareDestroyed) Type() CommandType { return TypeShareDestroyed }
func (ShareRefreshed) Type() CommandType { return TypeShareRefreshed }
func (RefreshFailed) Type() CommandType  { return TypeRefreshFailed }

func (c ShareDestroyed) Reporter() string { return c.Node }
func (c ShareRefreshed) Reporter() string { return c.Node }
func (c RefreshFailed) Reporter() string  { return c.Node }
