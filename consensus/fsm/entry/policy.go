package entry

// Policy entries. Both need protocol 2.
const (
	// TypeSetPolicy replaces the cluster policy.
	TypeSetPolicy CommandType = "set_policy"
	// TypeRevokePrincipal adds a principal to the deny-list.
	TypeRevokePrincipal CommandType = "revoke_principal"
)

// SetPolicy replaces the cluster policy with Document, the canonical JSON
// of a Policy, whose SHA-256 must be SHA256. When BaseVersion is set the
// policy in force must still be that version, so a change reviewed (or,
// later, approved by a quorum ceremony that wraps this entry) against one
// policy cannot apply over another. Every replica re-derives the canonical
// form and the hash, so no proposer can apply a document other than the
// one the hash names.
type SetPolicy struct {
	Document    string `json:"document"`
	SHA256      string `json:"sha256"`
	BaseVersion uint64 `json:"base_version,omitempty"`
	Actor       string `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
}

// RevokePrincipal puts Principal, or one client certificate by its Serial
// (exactly one of the two), on the deny-list: from this entry's index on,
// every replica refuses it everything, including calls already forwarded.
// It is instant by design: no quorum approval.
type RevokePrincipal struct {
	Principal string `json:"principal"`
	// Serial is a certificate serial in canonical form (policy.CanonicalSerial).
	Serial string `json:"serial,omitempty"`
	Actor  string `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
}

func (SetPolicy) Type() CommandType         { return TypeSetPolicy }
func (c *SetPolicy) Stamp(t int64)          { c.Time = t }
func (c *SetPolicy) StampTime() int64       { return c.Time }
func (RevokePrincipal) Type() CommandType   { return TypeRevokePrincipal }
func (c *RevokePrincipal) Stamp(t int64)    { c.Time = t }
func (c *RevokePrincipal) StampTime() int64 { return c.Time }
