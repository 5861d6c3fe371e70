package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

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
			return opts.printer().Print(tenantChangeView{Note: resp.Note, Tenant: tenantViewOf(resp.Tenant)})
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
			v := tenantChangeView{Note: resp.Note, Tenant: tenantViewOf(resp.Tenant)}
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
			v := tenantListView{Nodes: resp.Nodes, Tenants: []tenantView{}}
			for _, t := range resp.Tenants {
				v.Tenants = append(v.Tenants, *tenantViewOf(t))
			}
			return opts.printer().Print(v)
		},
	})
	return tenant
}

// tenantView is one tenant in `kq tenant` output.
type tenantView struct {
	Name       string `json:"name"`
	Listed     bool   `json:"listed"`
	Generation uint32 `json:"generation"`
	Keys       uint32 `json:"keys"`
	KeyWeight  uint32 `json:"key_weight"`
	Quota      string `json:"quota,omitempty"`
	Deleted    bool   `json:"deleted"`
	// DeletedGeneration is the generation the last deletion shredded.
	DeletedGeneration uint32   `json:"deleted_generation,omitempty"`
	Shredded          []string `json:"shredded,omitempty"` // nodes that reported the last deletion's key shredded
}

func tenantViewOf(t *kqpb.Tenant) *tenantView {
	if t == nil {
		return nil
	}
	return &tenantView{Name: t.Name, Listed: t.Listed, Generation: t.Generation, Keys: t.Keys, KeyWeight: t.KeyWeight,
		Quota: t.QuotaJson, Deleted: t.Deleted, DeletedGeneration: t.DeletedGeneration, Shredded: t.Shredded}
}

type tenantChangeView struct {
	Note   string      `json:"note"`
	Tenant *tenantView `json:"tenant,omitempty"`
	// Pending lists the nodes that have not reported their key shredded
	// yet (delete); they do when they next run.
	Pending []string `json:"pending_shred,omitempty"`
}

func (v tenantChangeView) Table(w io.Writer) error {
	fmt.Fprintln(w, v.Note)
	if t := v.Tenant; t != nil && t.Deleted {
		fmt.Fprintf(w, "key shredded on: %s\n", orNone(t.Shredded))
		if len(v.Pending) > 0 {
			fmt.Fprintf(w, "not yet reported: %s\n", strings.Join(v.Pending, ", "))
		}
	}
	return nil
}

type tenantListView struct {
	Tenants []tenantView `json:"tenants"`
	Nodes   []string     `json:"nodes"`
}

func (v tenantListView) Table(w io.Writer) error {
	tw := render.NewTabWriter(w)
	fmt.Fprintln(tw, "TENANT\tSTATE\tGENERATION\tKEYS\tWEIGHT\tQUOTA\tSHREDDED")
	for _, t := range v.Tenants {
		state := "active"
		switch {
		case !t.Listed && t.Deleted:
			state = "deleted"
		case !t.Listed:
			state = "unlisted"
		}
		shred := "-"
		if t.Deleted {
			shred = fmt.Sprintf("g%d on %d/%d", t.DeletedGeneration, len(t.Shredded), len(v.Nodes))
		}
		quota := t.Quota
		if quota == "" {
			quota = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", t.Name, state, t.Generation, t.Keys, t.KeyWeight, quota, shred)
	}
	return tw.Flush()
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none yet"
	}
	return strings.Join(s, ", ")
}
