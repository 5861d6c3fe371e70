package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/handle"
	"github.com/keyquorum/keyquorum/api/kqpb"
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
			req, tok, err := issueRequest(args[0], purpose, ttl, maxUses, requestID)
			if err != nil {
				return err
			}
			c, err := opts.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), opts.timeout)
			defer cancel()
			h, err := c.issueHandle(ctx, req, tok)
			if err != nil {
				return withIssueHint(err, requestID)
			}
			return opts.printer().print(newHandleView(h))
		},
	}
	cmd.Flags().StringVar(&purpose, "purpose", "sign", "one of the key's purposes")
	cmd.Flags().DurationVar(&ttl, "ttl", 10*time.Minute, "lifetime, at most the cluster's handles.max_ttl")
	cmd.Flags().Uint32Var(&maxUses, "max-uses", 0, "signatures before the handle is spent (default: unlimited until it expires)")
	cmd.Flags().StringVar(&requestID, "request-id", "", "a retry with the same id issues no second handle (default: random)")
	return cmd
}

// issueRequest checks the flags of a handle issue and builds its request,
// with a token made here.
func issueRequest(key, purpose string, ttl time.Duration, maxUses uint32, requestID string) (*kqpb.IssueHandleRequest, handle.Token, error) {
	if ttl < time.Millisecond {
		return nil, handle.Token{}, usagef("--ttl %v: want at least 1ms", ttl)
	}
	if ttl%time.Millisecond != 0 {
		return nil, handle.Token{}, usagef("--ttl %v: want whole milliseconds", ttl)
	}
	return clientMadeHandle(&kqpb.IssueHandleRequest{Key: key, Purpose: purpose, TtlMs: uint64(ttl / time.Millisecond),
		MaxUses: maxUses, RequestId: requestID})
}

// clientMadeHandle makes the token req issues: the request carries only its
// id and proof, and every retry of it the same ones.
func clientMadeHandle(req *kqpb.IssueHandleRequest) (*kqpb.IssueHandleRequest, handle.Token, error) {
	tok, err := handle.New()
	if err != nil {
		return nil, handle.Token{}, fmt.Errorf("make a handle token: %w", err)
	}
	proof := tok.Proof()
	req.HandleId, req.TokenProof = tok.ID(), proof[:]
	return req, tok, nil
}

// issueHandle issues the handle of tok, failing over between nodes; the
// handle returned carries the token.
func (c *clusterClient) issueHandle(ctx context.Context, req *kqpb.IssueHandleRequest, tok handle.Token) (*kqpb.Handle, error) {
	var h *kqpb.Handle
	err := c.call(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
		var err error
		h, err = kqpb.NewKeyServiceClient(conn).IssueHandle(ctx, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	h.Handle = tok.Bearer()
	return h, nil
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
			c, err := opts.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), opts.timeout)
			defer cancel()
			var r *kqpb.RevokeHandleResponse
			err = c.call(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
				r, err = kqpb.NewKeyServiceClient(conn).RevokeHandle(ctx, &kqpb.RevokeHandleRequest{Handle: args[0], RequestId: requestID})
				return err
			})
			if err != nil {
				return withRetryHint(err, requestID)
			}
			return opts.printer().print(revokedHandleView{ID: r.GetId(), Key: r.GetKey(), Revoked: true})
		},
	}
	cmd.Flags().StringVar(&requestID, "request-id", "", "makes retries safe (default: random)")
	return cmd
}
