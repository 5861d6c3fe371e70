package main

import (
	"context"
	"slices"

	"github.com/spf13/cobra"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
)

func newTenantCmd(opts *options) *cobra.Command {
	tenant := &cobra.Command{Use: "tenant", Short: "Create, list and delete tenants (each a crypto boundary)"}
	tenant.AddCommand(&cobra.Command{
		Use:   "create TENANT",
		Short: "Add a tenant to the policy",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			resp, err := answer(cmd.Context(), opts, kqpb.NewPolicyServiceClient, func(ctx context.Context, ps kqpb.PolicyServiceClient) (*kqpb.TenantResponse, error) {
				return ps.CreateTenant(ctx, &kqpb.CreateTenantRequest{Tenant: args[0]})
			})
			if err != nil {
				return err
			}
			return opts.printer().Print(render.TenantChangeView{Note: resp.Note, Tenant: render.NewTenantView(resp.Tenant)})
		},
	})
	var force bool
	del := &cobra.Command{
		Use:   "delete TENANT",
		Short: "Delete a tenant and crypto-shred its data-encryption key on every node",
		Long: "Delete a tenant: its grants and quota leave the policy, its handles are revoked,\n" +
			"and every node shreds the tenant's data-encryption key, so no share of the\n" +
			"tenant can be opened again. Every version of its keys must be destroyed first;\n" +
			"--force also accepts versions whose scheduled destruction is due, and destroys\n" +
			"them with the tenant. Waits up to 10 s for every node's shredding report.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp *kqpb.TenantResponse
			var nodes []string
			err := opts.policyCall(cmd.Context(), func(ctx context.Context, ps kqpb.PolicyServiceClient) (err error) {
				resp, err = ps.DeleteTenant(ctx, &kqpb.DeleteTenantRequest{Tenant: args[0], Force: force})
				if err != nil {
					return err
				}
				l, err := ps.ListTenants(ctx, &kqpb.ListTenantsRequest{})
				if err == nil {
					nodes = l.Nodes
				}
				return err
			})
			if err != nil {
				return err
			}
			v := render.TenantChangeView{Note: resp.Note, Tenant: render.NewTenantView(resp.Tenant)}
			if v.Tenant != nil {
				for _, n := range nodes {
					if !slices.Contains(v.Tenant.Shredded, n) {
						v.Pending = append(v.Pending, n)
					}
				}
			}
			return opts.printer().Print(v)
		},
	}
	del.Flags().BoolVar(&force, "force", false, "also delete when key versions are only due for destruction (destroys them)")
	tenant.AddCommand(del)
	tenant.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List tenants: in the policy, holding keys, or deleted",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := answer(cmd.Context(), opts, kqpb.NewPolicyServiceClient, func(ctx context.Context, ps kqpb.PolicyServiceClient) (*kqpb.ListTenantsResponse, error) {
				return ps.ListTenants(ctx, &kqpb.ListTenantsRequest{})
			})
			if err != nil {
				return err
			}
			v := render.TenantListView{Nodes: resp.Nodes, Tenants: []render.TenantView{}}
			for _, t := range resp.Tenants {
				v.Tenants = append(v.Tenants, *render.NewTenantView(t))
			}
			return opts.printer().Print(v)
		},
	})
	return tenant
}
