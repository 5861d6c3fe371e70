package kqpb

import "github.com/keyquorum/keyquorum/consensus/audit"

// The one conversion between an audit record's ceremony evidence and its
// wire form, used by the node, kq and the fault-injection checker alike:
// it is lossless, so a record read through the API hashes as it did in
// the chain.

// AuditCeremonyOf returns the wire form of c; nil for nil.
func AuditCeremonyOf(c *audit.Ceremony) *AuditCeremony {
	if c == nil {
		return nil
	}
	out := &AuditCeremony{Id: c.ID, Kind: c.Kind, Cluster: c.Cluster, Nonce: c.Nonce, ParamsSha256: c.ParamsSHA256,
		ExpiresAtUnixNano: c.ExpiresAt, Digest: c.Digest, Quorum: c.Quorum, Proposer: c.Proposer, ProposerCounts: c.ProposerCounts,
		Operator: c.Operator, PublicKey: c.PublicKey, Signature: c.Signature, State: c.State, Counted: c.Counted}
	for _, a := range c.Approvers {
		out.Approvers = append(out.Approvers, &AuditApprover{Name: a.Name, PublicKey: a.PublicKey})
	}
	return out
}

// Evidence returns the audit form of p; nil for nil.
func (p *AuditCeremony) Evidence() *audit.Ceremony {
	if p == nil {
		return nil
	}
	out := &audit.Ceremony{ID: p.Id, Kind: p.Kind, Cluster: p.Cluster, Nonce: p.Nonce, ParamsSHA256: p.ParamsSha256,
		ExpiresAt: p.ExpiresAtUnixNano, Digest: p.Digest, Quorum: p.Quorum, Proposer: p.Proposer, ProposerCounts: p.ProposerCounts,
		Operator: p.Operator, PublicKey: p.PublicKey, Signature: p.Signature, State: p.State, Counted: p.Counted}
	for _, a := range p.Approvers {
		out.Approvers = append(out.Approvers, audit.Approver{Name: a.Name, PublicKey: a.PublicKey})
	}
	return out
}
