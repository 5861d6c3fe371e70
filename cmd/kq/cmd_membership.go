package main

import (
	"context"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

func newKeyReshareCmd(opts *options) *cobra.Command {
	var version, threshold uint32
	var requestID string
	cmd := &cobra.Command{
		Use:   "reshare KEY [--threshold T]",
		Short: "Reshare a version to the live holders, optionally with another threshold",
		Long: longHelp("Give every live holder of KEY a new share of the same public key, dealt by\n" +
			"any threshold+1 of them, with --threshold T as the new threshold (any T+1\n" +
			"holders sign). A holder that cannot be reached is left out: its old share\n" +
			"is useless once the new ones are in use. Nothing changes unless every new\n" +
			"holder stored its share. Another version that can still sign must be\n" +
			"retired first when the threshold or the holders change."),
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if requestID == "" {
				requestID = newRequestID()
			}
			req := &kqpb.ReshareKeyRequest{Key: args[0], Version: version, Threshold: threshold, RequestId: requestID}
			return runKeyCall(cmd, opts, progressLabel("resharing", args[0], version, requestID), requestID,
				func(ctx context.Context, conn *grpc.ClientConn) (*kqpb.Key, error) {
					return kqpb.NewMembershipServiceClient(conn).ReshareKey(ctx, req)
				})
		},
	}
	cmd.Flags().Uint32Var(&version, "version", 0, "version to reshare (default: the primary)")
	cmd.Flags().Uint32Var(&threshold, "threshold", 0, "new threshold (default: the key's)")
	cmd.Flags().StringVar(&requestID, "request-id", "", "makes retries safe (default: random)")
	return cmd
}
