package entry

import (
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// Ceremony entries. All need protocol 2.
const (
	TypeProposeCeremony CommandType = "propose_ceremony"
	TypeApproveCeremony CommandType = "approve_ceremony"
	TypeCancelCeremony  CommandType = "cancel_ceremony"
)

// ProposeCeremony opens a ceremony. The proposing node picks Nonce (16
// random bytes, hex); the ceremony's id is derived from the entry's index.
type ProposeCeremony struct {
	Kind   policy.CeremonyKind `json:"kind"`
	Params string              `json:"params"`
	Nonce  string              `json:"nonce"`
	TTL    int64               `json:"ttl"` // nanoseconds
	// Context is the leader's, for the proposal's checks (not signed).
	Context *ceremony.Context `json:"context,omitempty"`
	Actor   string            `json:"actor"`
	Time    int64             `json:"time"`
}

// ApproveCeremony carries one operator's signature over a ceremony's
// digest. Whoever submits it, the approval is the key's: the FSM finds
// the operator by the public key and verifies the signature at this
// entry's index.
type ApproveCeremony struct {
	ID        string `json:"id"`
	PublicKey string `json:"public_key"`
	Signature string `json:"signature"` // hex Ed25519 signature over the digest
	// Context is the leader's, used if this approval executes the
	// ceremony (not signed: the choices the direct path's leader makes).
	Context *ceremony.Context `json:"context,omitempty"`
	Actor   string            `json:"actor"`
	Time    int64             `json:"time"`
}

// CancelCeremony ends a pending ceremony: its proposer, an operator or a
// cluster-admin may.
type CancelCeremony struct {
	ID    string `json:"id"`
	Actor string `json:"actor"`
	Time  int64  `json:"time"`
}

func (ProposeCeremony) Type() CommandType   { return TypeProposeCeremony }
func (c *ProposeCeremony) Stamp(t int64)    { c.Time = t }
func (c *ProposeCeremony) StampTime() int64 { return c.Time }
func (ApproveCeremony) Type() CommandType   { return TypeApproveCeremony }
func (c *ApproveCeremony) Stamp(t int64)    { c.Time = t }
func (c *ApproveCeremony) StampTime() int64 { return c.Time }
func (CancelCeremony) Type() CommandType    { return TypeCancelCeremony }
func (c *CancelCeremony) Stamp(t int64)     { c.Time = t }
func (c *CancelCeremony) StampTime() int64  { return c.Time }
