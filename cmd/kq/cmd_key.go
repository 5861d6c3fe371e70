package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/remote"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
)

func newKeyCmd(opts *options) *cobra.Command {
	key := &cobra.Command{Use: "key", Short: "Create, inspect and manage the lifecycle of threshold keys"}
	key.AddCommand(newKeyCreateCmd(opts), newKeyGetCmd(opts), newKeyListCmd(opts))
	key.AddCommand(newKeyLifecycleCmds(opts)...)
	return key
}

func newKeyCreateCmd(opts *options) *cobra.Command {
	var algorithm, requestID string
	var threshold uint32
	var purposes []string
	var deletionAllowed bool
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
			req := &kqpb.CreateKeyRequest{Name: args[0], Algorithm: alg, Threshold: threshold, RequestId: requestID,
				Purposes: purposes, DeletionAllowed: deletionAllowed}
			op := &longOp{label: "creating key " + args[0] + " (" + algorithm + ", request id " + requestID + ")",
				operation: "keygen", algorithm: alg}
			return runKeyChange(cmd, opts, op, requestID, func(ctx context.Context, ks kqpb.KeyServiceClient) (*kqpb.Key, error) {
				return ks.CreateKey(ctx, req)
			})
		},
	}
	cmd.Flags().StringVar(&algorithm, "algorithm", "", "ecdsa-secp256k1 or ed25519 (required)")
	_ = cmd.RegisterFlagCompletionFunc("algorithm", completeWords(algECDSA, algEd25519))
	cmd.Flags().Uint32Var(&threshold, "threshold", 0, "any threshold+1 members sign (default: the cluster's)")
	cmd.Flags().StringVar(&requestID, "request-id", "", "makes retries safe (default: random)")
	cmd.Flags().StringSliceVar(&purposes, "purpose", nil, "a purpose handles of this key may carry; repeatable (default: sign)")
	cmd.Flags().BoolVar(&deletionAllowed, "deletion-allowed", false, "allow versions of this key to be destroyed later")
	cmd.MarkFlagRequired("algorithm")
	return cmd
}

// runKeyChange sends one request that answers with a key, on the first node
// that answers, and prints the key as `kq key get` does. For a long
// operation (op not nil), a progress line shows while it waits.
func runKeyChange(cmd *cobra.Command, opts *options, op *longOp, requestID string,
	send func(context.Context, kqpb.KeyServiceClient) (*kqpb.Key, error)) error {
	return runKeyCall(cmd, opts, op, requestID, func(ctx context.Context, conn *grpc.ClientConn) (*kqpb.Key, error) {
		return send(ctx, kqpb.NewKeyServiceClient(conn))
	})
}

// runKeyCall is runKeyChange for a call of any service that answers a key.
func runKeyCall(cmd *cobra.Command, opts *options, op *longOp, requestID string,
	send func(context.Context, *grpc.ClientConn) (*kqpb.Key, error)) error {
	c, err := opts.client()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), opts.timeout)
	defer cancel()
	var k *kqpb.Key
	call := func() error {
		return c.Call(ctx, func(ctx context.Context, conn *grpc.ClientConn) error {
			var err error
			k, err = send(ctx, conn)
			return err
		})
	}
	if op != nil {
		err = opts.withProgress(op.label, estimate(ctx, c, op), call)
	} else {
		err = call()
	}
	if err != nil {
		return remote.WithRetryHint(c.Explain(ctx, err), requestID)
	}
	return opts.printer().Print(render.NewKeyView(k))
}

func newKeyGetCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "get NAME",
		Short: "Show a key, its versions and its public key",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := answer(cmd.Context(), opts, kqpb.NewKeyServiceClient, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Key, error) {
				return c.GetKey(ctx, &kqpb.GetKeyRequest{Name: args[0]})
			})
			if err != nil {
				return err
			}
			return opts.printer().Print(render.NewKeyView(k))
		},
	}
}

// keyFilter is the filters of `kq key list`; the zero value keeps every key.
type keyFilter struct {
	algorithm, state, purpose, prefix string
}

// parse checks the filter values, so a typo is an error rather than an
// empty list.
func (f *keyFilter) parse() error {
	if f.algorithm != "" {
		a, err := parseAlgorithm(f.algorithm)
		if err != nil {
			return usagef("--algorithm: %v", err)
		}
		f.algorithm = a.Name()
	}
	if f.state != "" {
		f.state = strings.ToLower(f.state)
		if names := keyStateNames(); !slices.Contains(names, f.state) {
			return usagef("--state %q: want one of %s", f.state, strings.Join(names, ", "))
		}
	}
	return nil
}

// keyStateNames are the states a key can be in, sorted.
func keyStateNames() []string {
	names := kqpb.KeyStateNames()
	slices.Sort(names)
	return names
}

// keep reports whether k passes every filter given.
func (f keyFilter) keep(k render.KeyView) bool {
	return (f.algorithm == "" || k.Algorithm == f.algorithm) &&
		(f.state == "" || k.State == f.state) &&
		(f.purpose == "" || slices.Contains(k.Purposes, f.purpose)) &&
		strings.HasPrefix(k.Name, f.prefix)
}

func newKeyListCmd(opts *options) *cobra.Command {
	var f keyFilter
	cmd := &cobra.Command{
		Use:   "list [--algorithm A] [--state S] [--purpose P] [--prefix TENANT/]",
		Short: "List the keys, all or those that pass the filters",
		Long: "List every key the caller may see. The filters combine:\n" +
			"--algorithm ecdsa-secp256k1|ed25519, --state (the key's, e.g. active,\n" +
			"generating, failed), --purpose (keys that allow it) and --prefix (names\n" +
			"starting with it, e.g. a tenant's \"acme/\").",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.parse(); err != nil {
				return err
			}
			r, err := answer(cmd.Context(), opts, kqpb.NewKeyServiceClient, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.ListKeysResponse, error) {
				return c.ListKeys(ctx, &kqpb.ListKeysRequest{})
			})
			if err != nil {
				return err
			}
			v := render.NewKeyListView(r)
			v.Keys = slices.DeleteFunc(v.Keys, func(k render.KeyView) bool { return !f.keep(k) })
			return opts.printer().Print(v)
		},
	}
	cmd.Flags().StringVar(&f.algorithm, "algorithm", "", "only keys of this algorithm: ecdsa-secp256k1 or ed25519")
	cmd.Flags().StringVar(&f.state, "state", "", "only keys in this state (active, generating, failed, ...)")
	_ = cmd.RegisterFlagCompletionFunc("algorithm", completeWords(algECDSA, algEd25519))
	_ = cmd.RegisterFlagCompletionFunc("state", completeWords(keyStateNames()...))
	cmd.Flags().StringVar(&f.purpose, "purpose", "", "only keys that allow this purpose")
	cmd.Flags().StringVar(&f.prefix, "prefix", "", "only keys whose name starts with this (a tenant's \"acme/\")")
	return cmd
}

// newRequestID returns 128 random bits in hex.
func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails
	return hex.EncodeToString(b)
}

// Algorithm names on the command line and in JSON.
const (
	algECDSA   = kqpb.AlgorithmNameECDSA
	algEd25519 = kqpb.AlgorithmNameEd25519
)

func parseAlgorithm(s string) (kqpb.Algorithm, error) {
	if a, ok := kqpb.AlgorithmNamed(strings.ToLower(s)); ok {
		return a, nil
	}
	return kqpb.Algorithm_ALGORITHM_UNSPECIFIED, fmt.Errorf("unknown algorithm %q: want %s or %s", s, algECDSA, algEd25519)
}
