package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
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
			"retired first when the threshold or the holders change. Once the policy\n" +
			"lists operators, another threshold is a ceremony: kq ceremony propose\n" +
			"threshold --key KEY --threshold T."),
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if requestID == "" {
				requestID = newRequestID()
			}
			req := &kqpb.ReshareKeyRequest{Key: args[0], Version: version, Threshold: threshold, RequestId: requestID}
			op := &longOp{label: progressLabel("resharing", args[0], version, requestID), operation: "refresh", key: args[0]}
			return runKeyCall(cmd, opts, op, requestID,
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

func newNodeCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Add, remove and replace nodes; show a node's membership state",
		Long: "Membership changes reshare every key to the new set of holders (any\n" +
			"threshold+1 live holders deal; every public key stays the same). To add\n" +
			"a node, append it to cluster.yaml (this copy and the new node's), run\n" +
			"`kq certs init` where the CA key is, `kq node add ID`, then start\n" +
			"`kqd --config cluster.yaml --node ID --join`. `kq node status ID` shows\n" +
			"its state: joining, resharing, voter; a removed node: removing, removed.\n" +
			"Once the policy lists operators a change is a ceremony instead: kq\n" +
			"ceremony propose membership --op add|remove|replace --node ID [--with NEW].",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "add ID",
		Short: "Add a node from cluster.yaml: it joins as a non-voter, receives every key's shares, then votes",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := opts.addNodeRequest(args[0])
			if err != nil {
				return err
			}
			return opts.nodeCall(cmd, func(ctx context.Context, ms kqpb.MembershipServiceClient) (*kqpb.NodeStatus, error) {
				return ms.AddNode(ctx, req)
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "remove ID",
		Short: "Reshare every key to the other members, then remove ID from Raft; it shreds its shares",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return opts.nodeCall(cmd, func(ctx context.Context, ms kqpb.MembershipServiceClient) (*kqpb.NodeStatus, error) {
				return ms.RemoveNode(ctx, &kqpb.RemoveNodeRequest{Id: args[0]})
			})
		},
	})
	var with string
	replace := &cobra.Command{
		Use:   "replace ID --with NEW",
		Short: "Add NEW (from cluster.yaml) and remove ID as one change; works with ID dead",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := opts.addNodeRequest(with)
			if err != nil {
				return err
			}
			return opts.nodeCall(cmd, func(ctx context.Context, ms kqpb.MembershipServiceClient) (*kqpb.NodeStatus, error) {
				return ms.ReplaceNode(ctx, &kqpb.ReplaceNodeRequest{Id: args[0], With: req})
			})
		},
	}
	replace.Flags().StringVar(&with, "with", "", "id of the new node, as in cluster.yaml (required)")
	replace.MarkFlagRequired("with")
	cmd.AddCommand(replace)
	cmd.AddCommand(&cobra.Command{
		Use:   "status ID",
		Short: "Show a node's membership state and, per key, where its shares stand",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return opts.nodeCall(cmd, func(ctx context.Context, ms kqpb.MembershipServiceClient) (*kqpb.NodeStatus, error) {
				return ms.GetNodeStatus(ctx, &kqpb.NodeStatusRequest{Id: args[0]})
			})
		},
	})
	return cmd
}

// addNodeRequest reads a new node's addresses from kq's cluster.yaml.
func (o *options) addNodeRequest(id string) (*kqpb.AddNodeRequest, error) {
	c, err := o.loadCluster()
	if err != nil {
		return nil, err
	}
	n, ok := c.Node(id)
	if !ok {
		return nil, fmt.Errorf("%q is not in %s: append it to the nodes list first", id, o.configPath)
	}
	return &kqpb.AddNodeRequest{Id: n.ID, RaftAddress: n.Raft, PeerAddress: n.Peer, ClientAddress: n.Client}, nil
}

// nodeCall runs one MembershipService call that answers a node's status.
func (o *options) nodeCall(cmd *cobra.Command, call func(context.Context, kqpb.MembershipServiceClient) (*kqpb.NodeStatus, error)) error {
	// The leader serves it; the others answer UNAVAILABLE and call moves
	// on to the next node.
	st, err := answer(cmd.Context(), o, kqpb.NewMembershipServiceClient, call)
	if err != nil {
		return err
	}
	return o.printer().Print(render.NewNodeView(st))
}
