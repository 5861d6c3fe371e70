package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// maxDualSign is the longest dual-sign window a node accepts.
const maxDualSign = 30 * 24 * time.Hour

// versionChange is a `kq key` lifecycle subcommand that names at most one
// version of a key and sends a KeyVersionRequest.
type versionChange struct {
	name  string
	short string
	long  string
	// versionHelp describes --version; "" means the change takes none.
	versionHelp     string
	versionRequired bool
	// progress, when set, is the progress line's verb: the change waits
	// for work on every member that takes seconds, operation (as Status's
	// estimates name it: keygen, refresh).
	progress, operation string
	send                func(kqpb.KeyServiceClient, context.Context, *kqpb.KeyVersionRequest, ...grpc.CallOption) (*kqpb.Key, error)
}

func versionChanges() []versionChange {
	return []versionChange{{
		name:  "rotate",
		short: "Generate the key's next version; it stays staged until promoted",
		long: "Run key generation for a new version of KEY and wait until every member\n" +
			"stored its share. The new version signs only when asked for by --version\n" +
			"until `kq key promote` makes it primary.",
		progress:  "rotating",
		operation: "keygen",
		send:      kqpb.KeyServiceClient.RotateKey,
	}, {
		name:        "rollback",
		short:       "Make an older active version primary again",
		versionHelp: "version to make primary (default: the newest active one below the primary)",
		send:        kqpb.KeyServiceClient.RollbackKey,
	}, {
		name:        "retire",
		short:       "Make a version verify-only",
		versionHelp: "version to retire (default: the primary)",
		send:        kqpb.KeyServiceClient.RetireKeyVersion,
	}, {
		name:  "revoke",
		short: "Stop a version at once: it neither signs nor verifies",
		long: "Revoke a version of KEY. Signing requests of it still in flight fail.\n" +
			"Revocation cannot be undone.",
		versionHelp: "version to revoke (default: the primary)",
		send:        kqpb.KeyServiceClient.RevokeKeyVersion,
	}, {
		name:  "destroy",
		short: "Schedule a retired or revoked version's shares for deletion",
		long: "Schedule the deletion of every member's share of a retired or revoked\n" +
			"version, after the cluster's lifecycle.destroy_pending delay. The key\n" +
			"must allow deletion (`kq key policy --deletion-allowed`). Signatures made\n" +
			"before still verify. `kq key cancel-destroy` stops it until it executes.",
		versionHelp:     "version to destroy (required)",
		versionRequired: true,
		send:            kqpb.KeyServiceClient.DestroyKeyVersion,
	}, {
		name:            "cancel-destroy",
		short:           "Cancel a version's scheduled destruction",
		versionHelp:     "version whose destruction to cancel (required)",
		versionRequired: true,
		send:            kqpb.KeyServiceClient.CancelDestroyKeyVersion,
	}, {
		name:  "refresh",
		short: "Reshare a version: new shares of the same public key",
		long: "Replace every member's share of a version with a new one of the same\n" +
			"public key, and wait until every member stored it. Old shares become\n" +
			"useless together with new ones.",
		versionHelp: "version to refresh (default: the primary)",
		progress:    "refreshing",
		operation:   "refresh",
		send:        kqpb.KeyServiceClient.RefreshKey,
	}}
}

func newKeyLifecycleCmds(opts *options) []*cobra.Command {
	var cmds []*cobra.Command
	for _, ch := range versionChanges() {
		cmds = append(cmds, newVersionChangeCmd(opts, ch))
	}
	return append(cmds, newKeyPromoteCmd(opts), newKeyPolicyCmd(opts), newKeyReshareCmd(opts))
}

func newVersionChangeCmd(opts *options, ch versionChange) *cobra.Command {
	var version uint32
	var requestID string
	use := ch.name + " KEY"
	if ch.versionRequired {
		use += " --version V"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: ch.short,
		Long:  longHelp(ch.long),
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if requestID == "" {
				requestID = newRequestID()
			}
			req := &kqpb.KeyVersionRequest{Key: args[0], Version: version, RequestId: requestID}
			return runKeyChange(cmd, opts, ch.longOp(args[0], version, requestID), requestID,
				func(ctx context.Context, ks kqpb.KeyServiceClient) (*kqpb.Key, error) { return ch.send(ks, ctx, req) })
		},
	}
	if ch.versionHelp != "" {
		cmd.Flags().Uint32Var(&version, "version", 0, ch.versionHelp)
	}
	if ch.versionRequired {
		cmd.MarkFlagRequired("version")
	}
	cmd.Flags().StringVar(&requestID, "request-id", "", "makes retries safe (default: random)")
	return cmd
}

// retrySafeNote ends the help of every lifecycle change.
const retrySafeNote = "Repeating the command with the same --request-id is safe: it changes\n" +
	"nothing more and prints the key."

// longHelp puts a change's own help before retrySafeNote.
func longHelp(long string) string {
	if long == "" {
		return retrySafeNote
	}
	return long + "\n" + retrySafeNote
}

// longOp is the change's progress line, or nil for a quick change.
func (ch versionChange) longOp(key string, version uint32, requestID string) *longOp {
	if ch.progress == "" {
		return nil
	}
	return &longOp{label: progressLabel(ch.progress, key, version, requestID), operation: ch.operation, key: key}
}

// progressLabel is the progress line's text for a slow change.
func progressLabel(verb, key string, version uint32, requestID string) string {
	target := "key " + key
	if version != 0 {
		target += fmt.Sprintf(" v%d", version)
	}
	return verb + " " + target + " (request id " + requestID + ")"
}

func newKeyPromoteCmd(opts *options) *cobra.Command {
	var version uint32
	var requestID string
	var dualSign time.Duration
	cmd := &cobra.Command{
		Use:   "promote KEY [--version V] [--dual-sign DURATION]",
		Short: "Make a staged or active version the primary, the one Sign uses",
		Long: "Make a version of KEY primary. For --dual-sign after the switch the\n" +
			"previous primary keeps co-signing: each signature request returns a\n" +
			"signature by both versions, so verifiers can move over. --dual-sign 0\n" +
			"opens no window; without the flag the cluster's lifecycle.dual_sign_window\n" +
			"applies.\n" +
			retrySafeNote,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if requestID == "" {
				requestID = newRequestID()
			}
			req := &kqpb.PromoteKeyRequest{Key: args[0], Version: version, RequestId: requestID}
			if cmd.Flags().Changed("dual-sign") {
				ms, err := dualSignMillis(dualSign)
				if err != nil {
					return err
				}
				req.DualSignMs = &ms
			}
			return runKeyChange(cmd, opts, nil, requestID, func(ctx context.Context, ks kqpb.KeyServiceClient) (*kqpb.Key, error) {
				return ks.PromoteKey(ctx, req)
			})
		},
	}
	cmd.Flags().Uint32Var(&version, "version", 0, "version to promote (default: the newest staged one)")
	cmd.Flags().DurationVar(&dualSign, "dual-sign", 0, "how long the previous primary keeps co-signing; 0 for none (default: the cluster's)")
	cmd.Flags().StringVar(&requestID, "request-id", "", "makes retries safe (default: random)")
	return cmd
}

// dualSignMillis checks a --dual-sign window and converts it for the wire.
func dualSignMillis(d time.Duration) (uint64, error) {
	if d < 0 || d > maxDualSign {
		return 0, usagef("--dual-sign %v: want 0 to %v", d, maxDualSign)
	}
	if d%time.Millisecond != 0 {
		return 0, usagef("--dual-sign %v: want whole milliseconds", d)
	}
	return uint64(d / time.Millisecond), nil
}

func newKeyPolicyCmd(opts *options) *cobra.Command {
	var minSign, minVerify uint32
	var deletionAllowed bool
	var requestID string
	cmd := &cobra.Command{
		Use:   "policy KEY [--min-sign-version N] [--min-verify-version N] [--deletion-allowed=true|false]",
		Short: "Set a key's version floors and whether its versions may be destroyed",
		Long: "Change only the settings given: versions below --min-sign-version no\n" +
			"longer sign, versions below --min-verify-version no longer verify.\n" +
			retrySafeNote,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req, err := policyRequest(cmd, args[0], minSign, minVerify, deletionAllowed)
			if err != nil {
				return err
			}
			if requestID == "" {
				requestID = newRequestID()
			}
			req.RequestId = requestID
			return runKeyChange(cmd, opts, nil, requestID, func(ctx context.Context, ks kqpb.KeyServiceClient) (*kqpb.Key, error) {
				return ks.SetKeyPolicy(ctx, req)
			})
		},
	}
	cmd.Flags().Uint32Var(&minSign, "min-sign-version", 0, "lowest version that may sign")
	cmd.Flags().Uint32Var(&minVerify, "min-verify-version", 0, "lowest version that may verify")
	cmd.Flags().BoolVar(&deletionAllowed, "deletion-allowed", false, "whether versions may be destroyed")
	cmd.Flags().StringVar(&requestID, "request-id", "", "makes retries safe (default: random)")
	return cmd
}

// policyRequest carries only the settings given on the command line: an
// absent flag leaves the setting as it is.
func policyRequest(cmd *cobra.Command, key string, minSign, minVerify uint32, deletionAllowed bool) (*kqpb.SetKeyPolicyRequest, error) {
	f := cmd.Flags()
	req := &kqpb.SetKeyPolicyRequest{Key: key}
	if f.Changed("min-sign-version") {
		req.MinSignVersion = &minSign
	}
	if f.Changed("min-verify-version") {
		req.MinVerifyVersion = &minVerify
	}
	if f.Changed("deletion-allowed") {
		req.DeletionAllowed = &deletionAllowed
	}
	if req.MinSignVersion == nil && req.MinVerifyVersion == nil && req.DeletionAllowed == nil {
		return nil, usagef("nothing to change: give --min-sign-version, --min-verify-version or --deletion-allowed")
	}
	return req, nil
}
