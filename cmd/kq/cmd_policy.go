package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

func newPolicyCmd(opts *options) *cobra.Command {
	policyCmd := &cobra.Command{Use: "policy", Short: "Show, compare and apply the cluster policy (tenants, principals, roles)"}
	policyCmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Show the policy in force, its version and SHA-256",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cur, err := opts.currentPolicy(cmd.Context())
			if err != nil {
				return err
			}
			return opts.printer().Print(cur)
		},
	})
	policyCmd.AddCommand(&cobra.Command{
		Use:   "diff FILE",
		Short: "Say what applying FILE would change",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			next, err := readPolicyFile(args[0])
			if err != nil {
				return err
			}
			cur, err := opts.currentPolicy(cmd.Context())
			if err != nil {
				return err
			}
			_, sum, err := next.Canonical()
			if err != nil {
				return err
			}
			return opts.printer().Print(policyDiffView{From: cur.SHA256, To: sum, Diff: policy.Diff(cur.Policy, next)})
		},
	})
	policyCmd.AddCommand(&cobra.Command{
		Use:   "apply FILE",
		Short: "Replace the cluster policy with FILE and print what changed",
		Long: "Replace the cluster policy with FILE (YAML). The document is refused whole\n" +
			"when it breaks its own separation of duties or leaves no cluster-admin; a\n" +
			"file that does not name admin keeps admin cluster-admin on every tenant.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := readPolicyFile(args[0]); err != nil {
				return err // refused here, before any node sees it
			}
			doc, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			resp, err := answer(cmd.Context(), opts, kqpb.NewPolicyServiceClient, func(ctx context.Context, ps kqpb.PolicyServiceClient) (*kqpb.ApplyPolicyResponse, error) {
				return ps.ApplyPolicy(ctx, &kqpb.ApplyPolicyRequest{Document: doc})
			})
			if err != nil {
				return err
			}
			return opts.printer().Print(policyDiffView{From: resp.PreviousSha256, To: resp.Policy.Sha256, Version: resp.Policy.Version, Diff: resp.Diff})
		},
	})
	return policyCmd
}

func newPrincipalCmd(opts *options) *cobra.Command {
	principal := &cobra.Command{Use: "principal", Short: "Manage principals (client identities)"}
	var serial string
	revoke := &cobra.Command{
		Use:   "revoke NAME | --serial HEX",
		Short: "Put a principal, or one certificate by its serial, on the deny-list, on every node at once",
		Long: "Put a principal on the deny-list, or with --serial one client certificate by its\n" +
			"serial number (hex, as openssl x509 -serial prints it; colons allowed): every\n" +
			"request made with it is refused from the revocation's log entry on, on every\n" +
			"node, including requests already forwarded to the leader. The principal's other\n" +
			"certificates keep working.",
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := &kqpb.RevokePrincipalRequest{Serial: serial}
			if len(args) == 1 {
				req.Principal = args[0]
			}
			if (req.Principal == "") == (req.Serial == "") {
				return usageError{errors.New("name a principal, or a certificate with --serial HEX, not both")}
			}
			resp, err := answer(cmd.Context(), opts, kqpb.NewPolicyServiceClient, func(ctx context.Context, ps kqpb.PolicyServiceClient) (*kqpb.PolicyResponse, error) {
				return ps.RevokePrincipal(ctx, req)
			})
			if err != nil {
				return err
			}
			v, err := policyViewOf(resp)
			if err != nil {
				return err
			}
			return opts.printer().Print(v)
		},
	}
	revoke.Flags().StringVar(&serial, "serial", "", "revoke one client certificate by its serial number (hex) instead of a principal")
	principal.AddCommand(revoke)
	return principal
}

func (o *options) policyCall(ctx context.Context, fn func(context.Context, kqpb.PolicyServiceClient) error) error {
	return serviceCall(ctx, o, kqpb.NewPolicyServiceClient, fn)
}

func (o *options) currentPolicy(ctx context.Context) (policyView, error) {
	resp, err := answer(ctx, o, kqpb.NewPolicyServiceClient, func(ctx context.Context, ps kqpb.PolicyServiceClient) (*kqpb.PolicyResponse, error) {
		return ps.GetPolicy(ctx, &kqpb.GetPolicyRequest{})
	})
	if err != nil {
		return policyView{}, err
	}
	return policyViewOf(resp)
}

func readPolicyFile(path string) (*policy.Policy, error) {
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := policy.Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// policyView is `kq policy show`: {"version","sha256","policy"}.
type policyView struct {
	Version uint64         `json:"version"`
	SHA256  string         `json:"sha256"`
	Policy  *policy.Policy `json:"policy"`
}

func policyViewOf(r *kqpb.PolicyResponse) (policyView, error) {
	var p policy.Policy
	if err := json.Unmarshal([]byte(r.PolicyJson), &p); err != nil {
		return policyView{}, fmt.Errorf("policy from the cluster: %w", err)
	}
	return policyView{Version: r.Version, SHA256: r.Sha256, Policy: &p}, nil
}

func (v policyView) Table(w io.Writer) error {
	mode := "set"
	if v.Version == 0 {
		mode = "bootstrap: every client may do everything until a policy is applied"
	}
	fmt.Fprintf(w, "policy v%d  sha256 %s  (%s)\n", v.Version, v.SHA256, mode)
	fmt.Fprintf(w, "tenants: %v\n", v.Policy.Tenants)
	tw := render.NewTabWriter(w)
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

// policyDiffView is `kq policy diff` and `kq policy apply`.
type policyDiffView struct {
	From    string `json:"from_sha256"`
	To      string `json:"to_sha256"`
	Version uint64 `json:"version,omitempty"` // apply: the version now in force
	Diff    string `json:"diff"`
}

func (v policyDiffView) Table(w io.Writer) error {
	if v.Version > 0 {
		fmt.Fprintf(w, "policy v%d in force\n", v.Version)
	}
	_, err := fmt.Fprintf(w, "%s -> %s\n%s\n", v.From, v.To, v.Diff)
	return err
}
