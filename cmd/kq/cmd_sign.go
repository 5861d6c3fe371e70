package main

import (
	"context"
	"encoding/hex"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

func newSignCmd(opts *options) *cobra.Command {
	var digestHex, requestID string
	cmd := &cobra.Command{
		Use:   "sign NAME --digest HEX",
		Short: "Sign a digest with a threshold key",
		Long: "Sign with key NAME. For ECDSA secp256k1, --digest is the 32-byte hash in\n" +
			"hex; for Ed25519 it is the message itself in hex (1 to 1024 bytes).\n" +
			"Repeating the command with the same --request-id and digest is safe.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			digest, err := parseHex("--digest", digestHex)
			if err != nil {
				return err
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
			var r *kqpb.SignResponse
			err = c.call(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
				r, err = kqpb.NewKeyServiceClient(conn).Sign(ctx, &kqpb.SignRequest{Key: args[0], Digest: digest, RequestId: requestID})
				return err
			})
			if err != nil {
				return withRetryHint(err, requestID)
			}
			return opts.printer().print(newSignView(r))
		},
	}
	cmd.Flags().StringVar(&digestHex, "digest", "", "digest (ECDSA) or message (Ed25519) in hex (required)")
	cmd.Flags().StringVar(&requestID, "request-id", "", "makes retries safe (default: random)")
	cmd.MarkFlagRequired("digest")
	return cmd
}

func newVerifyCmd(opts *options) *cobra.Command {
	var digestHex, sigHex string
	var version uint32
	cmd := &cobra.Command{
		Use:   "verify NAME --digest HEX --signature HEX",
		Short: "Check a signature against a key; exits 1 when it is invalid",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			digest, err := parseHex("--digest", digestHex)
			if err != nil {
				return err
			}
			sig, err := parseHex("--signature", sigHex)
			if err != nil {
				return err
			}
			c, err := opts.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), opts.timeout)
			defer cancel()
			var r *kqpb.VerifyResponse
			err = c.call(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
				r, err = kqpb.NewKeyServiceClient(conn).Verify(ctx, &kqpb.VerifyRequest{Key: args[0], Version: version, Digest: digest, Signature: sig})
				return err
			})
			if err != nil {
				return err
			}
			v := verifyView{Valid: r.GetValid(), Key: args[0], Version: r.GetVersion()}
			if err := opts.printer().print(v); err != nil {
				return err
			}
			if !v.Valid {
				return errSilentFailure
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&digestHex, "digest", "", "digest (ECDSA) or message (Ed25519) in hex (required)")
	cmd.Flags().StringVar(&sigHex, "signature", "", "signature in hex: DER for ECDSA, 64 bytes for Ed25519 (required)")
	cmd.Flags().Uint32Var(&version, "version", 0, "key version (default: the current one)")
	cmd.MarkFlagRequired("digest")
	cmd.MarkFlagRequired("signature")
	return cmd
}

// parseHex decodes a hex flag value, with or without a 0x prefix.
func parseHex(flag, s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	if s == "" {
		return nil, usagef("%s is empty", flag)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, usagef("%s is not hex: %v", flag, err)
	}
	return b, nil
}
