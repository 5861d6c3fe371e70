package main

import (
	"context"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
)

func newBlameCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "blame",
		Short: "Manage accusations against members from aborted signing attempts",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "clear MEMBER",
		Short: "Forget the accusations against MEMBER and lift its exclusion from committees",
		Long: "A member accused by threshold+1 distinct members of a key is excluded from\n" +
			"signing committees for a while. Clear it once the member is repaired or the\n" +
			"accusations are explained. The clear is an audited entry in the log.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.client()
			if err != nil {
				return err
			}
			var resp *kqpb.ClearBlameResponse
			// Only the leader serves it; the others answer UNAVAILABLE
			// and call moves on to the next node.
			err = c.Call(cmd.Context(), func(ctx context.Context, conn *grpc.ClientConn) error {
				resp, err = kqpb.NewOperatorServiceClient(conn).ClearBlame(ctx, &kqpb.ClearBlameRequest{Member: args[0]})
				return err
			})
			if err != nil {
				return err
			}
			return opts.printer().Print(render.BlameClearView{Member: args[0], Cleared: resp.Cleared, Note: resp.Note})
		},
	})
	return cmd
}
