package render

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// OperatorKeyView is `kq operator keygen`: the public key to list in the
// policy; the key file is named in the table only.
type OperatorKeyView struct {
	PublicKey string `json:"public_key"`
	File      string `json:"-"`
}

func (v OperatorKeyView) Table(w io.Writer) error {
	_, err := fmt.Fprintf(w, "wrote %s (0600); public key for the policy's operators list:\n%s\n", v.File, v.PublicKey)
	return err
}

// CeremonyReportView is `kq ceremony verify`: a ceremony as the audit
// export proves it.
type CeremonyReportView audit.CeremonyReport

func (v CeremonyReportView) Table(w io.Writer) error {
	fmt.Fprintf(w, "ceremony %s (%s): %s; %d of %d approvals counted; digest %s\n", v.ID, v.Kind, v.State, v.Counted, v.Quorum, v.Digest)
	tw := NewTabWriter(w)
	fmt.Fprintln(tw, "OPERATOR\tSEQ\tSIGNATURE\tCOUNTED")
	for _, a := range v.Approvals {
		fmt.Fprintf(tw, "%s\t%d\tvalid\t%t\n", a.Operator, a.Seq, a.Counted)
	}
	return tw.Flush()
}

// FreezeView is `kq freeze`, `kq freeze status` and `kq unfreeze`.
type FreezeView struct {
	Frozen bool   `json:"frozen"`
	Actor  string `json:"actor,omitempty"`
	Reason string `json:"reason,omitempty"`
	Index  uint64 `json:"index,omitempty"`
	Since  string `json:"since,omitempty"`
}

// NewFreezeView reads a freeze state; since is set only while frozen.
func NewFreezeView(st *kqpb.FreezeState) FreezeView {
	v := FreezeView{Frozen: st.Frozen, Actor: st.Actor, Reason: st.Reason, Index: st.Index}
	if st.Frozen {
		v.Since = time.Unix(0, st.TimeUnixNano).UTC().Format(time.RFC3339Nano)
	}
	return v
}

func (v FreezeView) Table(w io.Writer) error {
	if !v.Frozen {
		_, err := fmt.Fprintln(w, "not frozen: the cluster signs")
		return err
	}
	_, err := fmt.Fprintf(w, "FROZEN since %s (entry %d) by %s: %s\nno key signs until an unfreeze ceremony executes\n", v.Since, v.Index, v.Actor, v.Reason)
	return err
}

// CeremonyView is how propose, approve and show print a ceremony; its JSON
// keys are the CLI contract: id, kind, digest, state, approvals (counted),
// quorum, expires_at, and the rest.
type CeremonyView struct {
	ID           string                 `json:"id"`
	Kind         string                 `json:"kind"`
	Digest       string                 `json:"digest"`
	State        string                 `json:"state"`
	Approvals    uint32                 `json:"approvals"`
	Quorum       uint32                 `json:"quorum"`
	ExpiresAt    string                 `json:"expires_at"`
	Summary      string                 `json:"summary"`
	Proposer     string                 `json:"proposer"`
	Approvers    []string               `json:"approvers"`
	ApprovedBy   []CeremonyApprovalView `json:"approved_by"`
	Params       json.RawMessage        `json:"params,omitempty"`
	ParamsSHA256 string                 `json:"params_sha256"`
	Cluster      string                 `json:"cluster"`
	Nonce        string                 `json:"nonce"`
	Note         string                 `json:"note,omitempty"`
}

// CeremonyApprovalView is one approval of a ceremony and whether it counts.
type CeremonyApprovalView struct {
	Operator string `json:"operator"`
	Counted  bool   `json:"counted"`
	Index    uint64 `json:"index"`
}

// NewCeremonyView reads a ceremony; its params are shown unless they are a
// policy or operators document, which the digest stands for.
func NewCeremonyView(c *kqpb.Ceremony) CeremonyView {
	v := CeremonyView{ID: c.Id, Kind: c.Kind, Digest: c.Digest, State: c.State, Approvals: c.Counted, Quorum: c.Quorum,
		ExpiresAt: time.Unix(0, c.ExpiresAtUnixNano).UTC().Format(time.RFC3339Nano), Summary: c.Summary, Proposer: c.Proposer,
		Approvers: []string{}, ApprovedBy: []CeremonyApprovalView{}, ParamsSHA256: c.ParamsSha256, Cluster: c.Cluster, Nonce: c.Nonce, Note: c.Note}
	if c.ParamsJson != "" && json.Valid([]byte(c.ParamsJson)) && c.Kind != string(policy.KindPolicyChange) && c.Kind != string(policy.KindOperators) {
		v.Params = json.RawMessage(c.ParamsJson)
	}
	for _, a := range c.Approvers {
		v.Approvers = append(v.Approvers, a.Name)
	}
	for _, a := range c.Approvals {
		v.ApprovedBy = append(v.ApprovedBy, CeremonyApprovalView{Operator: a.Operator, Counted: a.Counted, Index: a.Index})
	}
	return v
}

func (v CeremonyView) Table(w io.Writer) error {
	fmt.Fprintf(w, "ceremony %s  %s  %s  %d of %d approvals  expires %s\n", v.ID, v.Kind, v.State, v.Approvals, v.Quorum, v.ExpiresAt)
	fmt.Fprintf(w, "does:     %s\n", v.Summary)
	fmt.Fprintf(w, "digest:   %s\n", v.Digest)
	fmt.Fprintf(w, "proposer: %s  approvers: %s\n", v.Proposer, strings.Join(v.Approvers, ", "))
	for _, a := range v.ApprovedBy {
		counted := "counted"
		if !a.Counted {
			counted = "not counted (the proposer)"
		}
		fmt.Fprintf(w, "approved: %s at entry %d, %s\n", a.Operator, a.Index, counted)
	}
	if v.Note != "" {
		fmt.Fprintf(w, "note:     %s\n", v.Note)
	}
	return nil
}

// CeremonyListView is `kq ceremony list`.
type CeremonyListView struct {
	Ceremonies []CeremonyView `json:"ceremonies"`
}

func (v CeremonyListView) Table(w io.Writer) error {
	tw := NewTabWriter(w)
	fmt.Fprintln(tw, "ID\tKIND\tSTATE\tAPPROVALS\tEXPIRES\tDOES")
	for _, c := range v.Ceremonies {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%.80s\n", c.ID, c.Kind, c.State, c.Approvals, c.Quorum, c.ExpiresAt, c.Summary)
	}
	return tw.Flush()
}
