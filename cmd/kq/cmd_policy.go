package main

import (
	"context"
	"errors"
	"fmt"
	"os"

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
			return opts.printer().Print(render.PolicyDiffView{From: cur.SHA256, To: sum, Diff: policy.Diff(cur.Policy, next)})
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
			return opts.printer().Print(render.PolicyDiffView{From: resp.PreviousSha256, To: resp.Policy.Sha256, Version: resp.Policy.Version, Diff: resp.Diff})
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
			v, err := render.NewPolicyView(resp)
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

func (o *options) currentPolicy(ctx context.Context) (render.PolicyView, error) {
	resp, err := answer(ctx, o, kqpb.NewPolicyServiceClient, func(ctx context.Context, ps kqpb.PolicyServiceClient) (*kqpb.PolicyResponse, error) {
		return ps.GetPolicy(ctx, &kqpb.GetPolicyRequest{})
	})
	if err != nil {
		return render.PolicyView{}, err
	}
	return render.NewPolicyView(resp)
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
