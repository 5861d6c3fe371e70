package render

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// PolicyView is `kq policy show`: {"version","sha256","policy"}.
type PolicyView struct {
	Version uint64         `json:"version"`
	SHA256  string         `json:"sha256"`
	Policy  *policy.Policy `json:"policy"`
}

// NewPolicyView decodes the policy document the cluster returned.
func NewPolicyView(r *kqpb.PolicyResponse) (PolicyView, error) {
	var p policy.Policy
	if err := json.Unmarshal([]byte(r.PolicyJson), &p); err != nil {
		return PolicyView{}, fmt.Errorf("policy from the cluster: %w", err)
	}
	return PolicyView{Version: r.Version, SHA256: r.Sha256, Policy: &p}, nil
}

func (v PolicyView) Table(w io.Writer) error {
	mode := "set"
	if v.Version == 0 {
		mode = "bootstrap: every client may do everything until a policy is applied"
	}
	fmt.Fprintf(w, "policy v%d  sha256 %s  (%s)\n", v.Version, v.SHA256, mode)
	fmt.Fprintf(w, "tenants: %v\n", v.Policy.Tenants)
	tw := NewTabWriter(w)
	fmt.Fprintln(tw, "PRINCIPAL\tROLE\tTENANT\tLIMITS")
	for _, name := range slices.Sorted(maps.Keys(v.Policy.Principals)) {
		for _, g := range v.Policy.Principals[name].Roles {
			limits := ""
			if len(g.Purposes) > 0 || g.MaxTTL != "" {
				limits = fmt.Sprintf("purposes %v max_ttl %s", g.Purposes, g.MaxTTL)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, g.Role, g.Tenant, limits)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "separation of duties: %v\n", v.Policy.SeparationOfDuties)
	if len(v.Policy.DeniedSerials) > 0 {
		fmt.Fprintf(w, "denied certificate serials: %v\n", v.Policy.DeniedSerials)
	}
	if len(v.Policy.Denied) > 0 {
		fmt.Fprintf(w, "denied: %v\n", v.Policy.Denied)
	}
	for _, name := range slices.Sorted(maps.Keys(v.Policy.Operators)) {
		fmt.Fprintf(w, "operator %s: %s\n", name, v.Policy.Operators[name].PublicKey)
	}
	if r := v.Policy.Ceremonies; r != nil {
		fmt.Fprintf(w, "ceremonies: default quorum %d, proposer counts %t", r.DefaultQuorum, r.ProposerCounts)
		for _, kind := range slices.Sorted(maps.Keys(r.Kinds)) {
			fmt.Fprintf(w, "; %s: quorum %d approvers %v", kind, r.Kinds[kind].Quorum, r.Kinds[kind].Approvers)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// PolicyDiffView is `kq policy diff` and `kq policy apply`.
type PolicyDiffView struct {
	From    string `json:"from_sha256"`
	To      string `json:"to_sha256"`
	Version uint64 `json:"version,omitempty"` // apply: the version now in force
	Diff    string `json:"diff"`
}

func (v PolicyDiffView) Table(w io.Writer) error {
	if v.Version > 0 {
		fmt.Fprintf(w, "policy v%d in force\n", v.Version)
	}
	_, err := fmt.Fprintf(w, "%s -> %s\n%s\n", v.From, v.To, v.Diff)
	return err
}
