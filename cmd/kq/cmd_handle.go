package main

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyquorum/keyquorum/api/client"
	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/remote"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
)

func newHandleCmd(opts *options) *cobra.Command {
	handle := &cobra.Command{Use: "handle", Short: "Issue and revoke handles, the capabilities to sign with a key"}
	handle.AddCommand(newHandleIssueCmd(opts), newHandleRevokeCmd(opts))
	return handle
}

func newHandleIssueCmd(opts *options) *cobra.Command {
	var purpose, requestID string
	var ttl time.Duration
	var maxUses uint32
	cmd := &cobra.Command{
		Use:   "issue KEY --purpose P --ttl DURATION",
		Short: "Issue a handle that signs with KEY for one purpose until it expires",
		Long: "Issue a handle: a bearer token that lets its holder sign with KEY, for\n" +
			"--purpose, until --ttl passes or --max-uses signatures are made. kq makes the\n" +
			"token here and sends the cluster only its id and SHA-256, so the secret never\n" +
			"leaves this machine and a retry after a lost reply gets the same handle. The\n" +
			"token is printed only this once; revoke it by its id. Repeating the command\n" +
			"with the same --request-id issues no second handle: it fails naming the\n" +
			"first one's id.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if requestID == "" {
				requestID = newRequestID()
			}
			req, err := issueRequest(args[0], purpose, ttl, maxUses, requestID)
			if err != nil {
				return err
			}
			c, err := opts.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), opts.timeout)
			defer cancel()
			h, err := issueHandle(ctx, c, req)
			if err != nil {
				return remote.WithIssueHint(err, requestID)
			}
			return opts.printer().Print(render.NewHandleView(h))
		},
	}
	cmd.Flags().StringVar(&purpose, "purpose", "sign", "one of the key's purposes")
	cmd.Flags().DurationVar(&ttl, "ttl", 10*time.Minute, "lifetime, at most the cluster's handles.max_ttl")
	cmd.Flags().Uint32Var(&maxUses, "max-uses", 0, "signatures before the handle is spent (default: unlimited until it expires)")
	cmd.Flags().StringVar(&requestID, "request-id", "", "a retry with the same id issues no second handle (default: random)")
	return cmd
}

// issueRequest checks the flags of a handle issue and builds its request.
func issueRequest(key, purpose string, ttl time.Duration, maxUses uint32, requestID string) (client.HandleRequest, error) {
	if ttl < time.Millisecond {
		return client.HandleRequest{}, usagef("--ttl %v: want at least 1ms", ttl)
	}
	if ttl%time.Millisecond != 0 {
		return client.HandleRequest{}, usagef("--ttl %v: want whole milliseconds", ttl)
	}
	return client.HandleRequest{Key: key, Purpose: purpose, TTL: ttl, MaxUses: maxUses, RequestID: requestID}, nil
}

// issueHandle issues a handle through api/client, which makes the token
// here and sends the cluster only its id and proof, failing over between
// nodes under one request id. The handle returned carries the token.
func issueHandle(ctx context.Context, c *remote.Client, r client.HandleRequest) (*kqpb.Handle, error) {
	h, err := c.API().IssueHandle(ctx, r)
	if err != nil {
		return nil, c.Plain(err)
	}
	var expires int64
	if !h.ExpiresAt.IsZero() {
		expires = h.ExpiresAt.UnixNano()
	}
	return &kqpb.Handle{Handle: h.Token.Bearer(), Id: h.ID, Key: h.Key, Purpose: h.Purpose, ExpiresAtUnixNano: expires, MaxUses: h.MaxUses}, nil
}

func newHandleRevokeCmd(opts *options) *cobra.Command {
	var requestID string
	cmd := &cobra.Command{
		Use:   "revoke HANDLE_OR_ID",
		Short: "Revoke a handle at once, by its id or the whole token",
		Long: "Revoke a handle: signing requests with it are denied from now on.\n" +
			"Repeating the command with the same --request-id is safe.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if requestID == "" {
				requestID = newRequestID()
			}
			r, err := answer(cmd.Context(), opts, kqpb.NewKeyServiceClient, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.RevokeHandleResponse, error) {
				return c.RevokeHandle(ctx, &kqpb.RevokeHandleRequest{Handle: args[0], RequestId: requestID})
			})
			if err != nil {
				return remote.WithRetryHint(err, requestID)
			}
			return opts.printer().Print(render.RevokedHandleView{ID: r.GetId(), Key: r.GetKey(), Revoked: true})
		},
	}
	cmd.Flags().StringVar(&requestID, "request-id", "", "makes retries safe (default: random)")
	return cmd
}
