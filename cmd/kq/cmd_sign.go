package main

import (
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/client"
	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/remote"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
)

// The handle `kq sign NAME` issues for its one signature.
const (
	oneShotHandleTTL = time.Minute
	defaultPurpose   = "sign"
)

// signFlags are the flags of `kq sign`.
type signFlags struct {
	handle    string
	digestHex string
	requestID string
	purpose   string
	version   uint32
	format    string
}

func newSignCmd(opts *options) *cobra.Command {
	var f signFlags
	cmd := &cobra.Command{
		Use:   "sign (NAME | --handle HANDLE) --digest HEX",
		Short: "Sign a digest with a threshold key",
		Long: "Sign with the key a handle grants (see `kq handle issue`). For ECDSA\n" +
			"secp256k1, --digest is the 32-byte hash in hex; for Ed25519 it is the\n" +
			"message itself in hex (1 to 1024 bytes). Given a key NAME instead of\n" +
			"--handle, kq first issues a handle for one use within a minute, under\n" +
			"your identity, and signs with it.\n" +
			"Inside a dual-sign window the previous primary version signs too; both\n" +
			"signatures are listed. Repeating the command with the same --request-id\n" +
			"and digest is safe.\n" +
			"--format re-encodes each signature, after checking it against its key\n" +
			"version's public key: der (ECDSA as the cluster returns it, with a low s),\n" +
			"raw (r||s, 64 bytes; the one encoding of Ed25519) or eth (r||s||v, 65\n" +
			"bytes, v the recovery id 0 or 1, as Ethereum transactions carry it).",
		Args: maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && f.handle != "":
				return usagef("give a key NAME or --handle, not both")
			case len(args) == 0 && f.handle == "":
				return usagef("give a key NAME or --handle")
			}
			digest, err := parseHex("--digest", f.digestHex)
			if err != nil {
				return err
			}
			format, err := parseSignFormat(f.format)
			if err != nil {
				return err
			}
			if f.requestID == "" {
				f.requestID = newRequestID()
			}
			c, err := opts.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), opts.timeout)
			defer cancel()
			req := &kqpb.SignRequest{Handle: f.handle, Digest: digest, RequestId: f.requestID, Purpose: f.purpose, Version: f.version}
			// --format needs the key's public keys. Given its NAME, read
			// it first, so a format the key cannot take fails before
			// anything is signed; given a handle, the answer names it.
			var key *kqpb.Key
			if format != "" && len(args) == 1 {
				if key, err = getKey(ctx, c, args[0]); err != nil {
					return err
				}
				if err := checkFormatFits(key, format); err != nil {
					return err
				}
			}
			if len(args) == 1 {
				h, err := issueHandle(ctx, c, oneShotHandleRequest(args[0], f.purpose))
				if err != nil {
					return remote.WithRetryHint(err, f.requestID)
				}
				req.Key, req.Handle, req.Purpose = args[0], h.GetHandle(), h.GetPurpose()
			}
			var r *kqpb.SignResponse
			err = c.Call(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
				r, err = kqpb.NewKeyServiceClient(conn).Sign(ctx, req)
				return err
			})
			if err != nil {
				return remote.WithRetryHint(err, f.requestID)
			}
			v := render.NewSignView(r)
			if format != "" {
				// A key read before signing may predate a promotion: the
				// versions that signed must be in the one checked against.
				if key == nil || !hasVersions(key, v) {
					if key, err = getKey(ctx, c, r.GetKey()); err != nil {
						return fmt.Errorf("signed (request id %s), but reading %s for --format failed: %w", f.requestID, r.GetKey(), err)
					}
				}
				if err := checkFormatFits(key, format); err != nil {
					return err
				}
				if err := v.Encode(key, digest, format); err != nil {
					return err
				}
			}
			return opts.printer().Print(v)
		},
	}
	cmd.Flags().StringVar(&f.handle, "handle", "", "handle to sign with (from kq handle issue)")
	cmd.Flags().StringVar(&f.digestHex, "digest", "", "digest (ECDSA) or message (Ed25519) in hex (required)")
	cmd.Flags().StringVar(&f.requestID, "request-id", "", "makes retries safe (default: random)")
	cmd.Flags().StringVar(&f.purpose, "purpose", "", "purpose to sign for, which must be the handle's; with NAME, the one-use handle's (default: sign)")
	cmd.Flags().Uint32Var(&f.version, "version", 0, "key version to sign with, active or staged (default: the primary)")
	cmd.Flags().StringVar(&f.format, "format", "", "signature encoding: der (ECDSA's default), raw (r||s; Ed25519's only one) or eth (r||s||v, v 0 or 1, the recovery id)")
	_ = cmd.RegisterFlagCompletionFunc("format", completeWords(string(client.FormatDER), string(client.FormatRaw), string(client.FormatEth)))
	cmd.MarkFlagRequired("digest")
	return cmd
}

// getKey reads a key, failing over between nodes.
func getKey(ctx context.Context, c *remote.Client, name string) (*kqpb.Key, error) {
	var k *kqpb.Key
	err := c.Call(ctx, func(ctx context.Context, conn *grpc.ClientConn) (err error) {
		k, err = kqpb.NewKeyServiceClient(conn).GetKey(ctx, &kqpb.GetKeyRequest{Name: name})
		return err
	})
	return k, err
}

// hasVersions reports whether k lists every version that signed in v.
func hasVersions(k *kqpb.Key, v render.SignView) bool {
	for _, s := range v.Signatures {
		if !slices.ContainsFunc(k.GetVersions(), func(kv *kqpb.KeyVersion) bool { return kv.GetVersion() == s.Version }) {
			return false
		}
	}
	return true
}

// oneShotHandleRequest asks for the handle `kq sign NAME` signs with: one
// use, short-lived, under a fresh request id. A retry of the command issues
// another one; the signature request's own id keeps the retry safe.
func oneShotHandleRequest(key, purpose string) client.HandleRequest {
	return client.HandleRequest{Key: key, Purpose: cmp.Or(purpose, defaultPurpose), TTL: oneShotHandleTTL, MaxUses: 1}
}

func newVerifyCmd(opts *options) *cobra.Command {
	var digestHex, sigHex string
	var version uint32
	cmd := &cobra.Command{
		Use:   "verify NAME --digest HEX --signature HEX [--version V]",
		Short: "Check a signature against a key version; exits 1 when it is invalid",
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
			r, err := answer(cmd.Context(), opts, kqpb.NewKeyServiceClient, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.VerifyResponse, error) {
				return c.Verify(ctx, &kqpb.VerifyRequest{Key: args[0], Version: version, Digest: digest, Signature: sig})
			})
			if err != nil {
				return err
			}
			v := render.VerifyView{Valid: r.GetValid(), Key: args[0], Version: r.GetVersion()}
			if v.Version == 0 {
				v.Version = version // a node that does not say which version it checked
			}
			if err := opts.printer().Print(v); err != nil {
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
	cmd.Flags().Uint32Var(&version, "version", 0, "key version to check against (default: the primary)")
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
