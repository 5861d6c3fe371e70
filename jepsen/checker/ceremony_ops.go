package checker

import (
	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/model"
)

// Operations of the ceremony workload, recorded apart from the porcupine
// history (the key model knows nothing of ceremonies) on the same clock.
const (
	CeremonyPropose = "propose"
	CeremonyApprove = "approve"
	CeremonyCancel  = "cancel"
	// CeremonyList is a ListCeremonies; CeremonyReadKey a GetKey of a
	// key-policy ceremony's key, for its deletion_allowed flag;
	// CeremonyTenants a ListTenants.
	CeremonyList    = "list"
	CeremonyReadKey = "read-key"
	CeremonyTenants = "tenants"
)

// Bad approvals the workload sends on purpose; each must be refused.
const (
	// BadForeign is a valid operator's signature over another ceremony's
	// digest (INVALID_ARGUMENT).
	BadForeign = "foreign-digest"
	// BadStranger is a signature by a key no policy lists
	// (PERMISSION_DENIED).
	BadStranger = "stranger"
)

// CeremonyOp is one call of the ceremony workload as a client saw it.
type CeremonyOp struct {
	Client int    `json:"client"`
	Op     string `json:"op"`
	// ID is the ceremony the call named (approve, cancel) or got (propose).
	ID string `json:"id,omitempty"`
	// Kind and Target say what a proposal asked for: a key (key-policy)
	// or a tenant (tenant-create); Target is also the key a read-key read.
	Kind   string `json:"kind,omitempty"`
	Target string `json:"target,omitempty"`
	// Operator is the operator whose key signed an approval ("" for a
	// stranger's), Bad what is wrong with it on purpose ("" for nothing).
	Operator string `json:"operator,omitempty"`
	Bad      string `json:"bad,omitempty"`
	// Retry marks a second attempt of an approval under the same
	// signature after an unknown outcome.
	Retry  bool         `json:"retry,omitempty"`
	Call   int64        `json:"call_ns"`
	Return int64        `json:"return_ns"` // when the client gave up, for unknown outcomes
	Node   string       `json:"node"`
	Code   string       `json:"code"`
	Status model.Status `json:"status"`
	Error  string       `json:"error,omitempty"`
	// Ceremonies are the ceremonies the answer showed (one, or a list's).
	Ceremonies []CeremonyView `json:"ceremonies,omitempty"`
	// DeletionAllowed is a read-key answer's flag; Tenants a tenant list.
	DeletionAllowed bool     `json:"deletion_allowed,omitempty"`
	Tenants         []string `json:"tenants,omitempty"`
	// Final marks the reads made after the faults were healed.
	Final bool `json:"final,omitempty"`
}

// CeremonyView is a ceremony as an answer showed it: everything needed to
// recompute its digest and re-verify its approvals offline.
type CeremonyView struct {
	ID             string             `json:"id"`
	Kind           string             `json:"kind"`
	Cluster        string             `json:"cluster"`
	Nonce          string             `json:"nonce"`
	ParamsSHA256   string             `json:"params_sha256"`
	ParamsJSON     string             `json:"params_json,omitempty"`
	ExpiresAt      int64              `json:"expires_at"`
	Digest         string             `json:"digest"`
	Quorum         uint32             `json:"quorum"`
	Proposer       string             `json:"proposer"`
	ProposerCounts bool               `json:"proposer_counts,omitempty"`
	Approvers      map[string]string  `json:"approvers"` // operator -> public key
	Approvals      []CeremonyApproval `json:"approvals,omitempty"`
	Counted        uint32             `json:"counted"`
	State          string             `json:"state"`
}

// CeremonyApproval is one approval a ceremony view lists.
type CeremonyApproval struct {
	Operator  string `json:"operator"`
	PublicKey string `json:"public_key"`
	Signature string `json:"signature"`
	Counted   bool   `json:"counted"`
}

// ViewOf converts an answer.
func ViewOf(c *kqpb.Ceremony) CeremonyView {
	v := CeremonyView{ID: c.Id, Kind: c.Kind, Cluster: c.Cluster, Nonce: c.Nonce, ParamsSHA256: c.ParamsSha256,
		ParamsJSON: c.ParamsJson, ExpiresAt: c.ExpiresAtUnixNano, Digest: c.Digest, Quorum: c.Quorum,
		Proposer: c.Proposer, ProposerCounts: c.ProposerCounts, Approvers: map[string]string{},
		Counted: c.Counted, State: c.State}
	for _, a := range c.Approvers {
		v.Approvers[a.Name] = a.PublicKey
	}
	for _, a := range c.Approvals {
		v.Approvals = append(v.Approvals, CeremonyApproval{Operator: a.Operator, PublicKey: a.PublicKey,
			Signature: a.Signature, Counted: a.Counted})
	}
	return v
}

// approved reports whether the view lists an approval by operator.
func (v CeremonyView) approved(operator string) bool {
	for _, a := range v.Approvals {
		if a.Operator == operator {
			return true
		}
	}
	return false
}
