package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

func newKeyCmd(opts *options) *cobra.Command {
	key := &cobra.Command{Use: "key", Short: "Create and inspect threshold keys"}
	key.AddCommand(newKeyCreateCmd(opts), newKeyGetCmd(opts), newKeyListCmd(opts))
	return key
}

func newKeyCreateCmd(opts *options) *cobra.Command {
	var algorithm, requestID string
	var threshold uint32
	cmd := &cobra.Command{
		Use:   "create NAME --algorithm ecdsa-secp256k1|ed25519",
		Short: "Generate a new threshold key on the cluster and wait until it is ready",
		Long: "Run distributed key generation for NAME and print the key once every member\n" +
			"has stored its share. Repeating the command with the same --request-id is\n" +
			"safe: it returns the same key.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			alg, err := parseAlgorithm(algorithm)
			if err != nil {
				return usageError{err}
			}
			if requestID == "" {
				requestID = newRequestID()
			}
			c, err := opts.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), opts.timeout)
			defer cancel()
			if opts.stderrTTY {
				stop := startSpinner(opts.stderr, "creating key "+args[0]+" ("+algorithm+", request id "+requestID+")")
				defer stop()
			}
			var k *kqpb.Key
			err = c.call(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
				k, err = kqpb.NewKeyServiceClient(conn).CreateKey(ctx, &kqpb.CreateKeyRequest{
					Name: args[0], Algorithm: alg, Threshold: threshold, RequestId: requestID,
				})
				return err
			})
			if err != nil {
				return withRetryHint(err, requestID)
			}
			return opts.printer().print(newKeyView(k))
		},
	}
	cmd.Flags().StringVar(&algorithm, "algorithm", "", "ecdsa-secp256k1 or ed25519 (required)")
	cmd.Flags().Uint32Var(&threshold, "threshold", 0, "any threshold+1 members sign (default: the cluster's)")
	cmd.Flags().StringVar(&requestID, "request-id", "", "makes retries safe (default: random)")
	cmd.MarkFlagRequired("algorithm")
	return cmd
}

func newKeyGetCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a key and its public key",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), opts.timeout)
			defer cancel()
			var k *kqpb.Key
			err = c.call(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
				k, err = kqpb.NewKeyServiceClient(conn).GetKey(ctx, &kqpb.GetKeyRequest{Name: args[0]})
				return err
			})
			if err != nil {
				return err
			}
			return opts.printer().print(newKeyView(k))
		},
	}
}

func newKeyListCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List every key",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := opts.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), opts.timeout)
			defer cancel()
			var r *kqpb.ListKeysResponse
			err = c.call(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
				r, err = kqpb.NewKeyServiceClient(conn).ListKeys(ctx, &kqpb.ListKeysRequest{})
				return err
			})
			if err != nil {
				return err
			}
			return opts.printer().print(newKeyListView(r))
		},
	}
}

// newRequestID returns 128 random bits in hex.
func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails
	return hex.EncodeToString(b)
}
