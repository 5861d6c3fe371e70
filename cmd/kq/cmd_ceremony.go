package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/approval"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// Operator quorum ceremonies on the command line: `kq operator keygen`
// makes an approval key, `kq ceremony ...` proposes, approves, shows,
// lists, cancels and verifies offline, `kq freeze` breaks glass.

func newOperatorCmd(opts *options) *cobra.Command {
	operator := &cobra.Command{Use: "operator", Short: "Operator approval keys for quorum ceremonies"}
	var out string
	keygen := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Write a new Ed25519 approval key to FILE (mode 0600) and print its public key",
		Long: "Write a new Ed25519 approval key to FILE (PKCS#8 PEM, mode 0600; an existing\n" +
			"file is never overwritten) and print the public key, in the form the policy's\n" +
			"operators list takes. Keep the file with the operator, never on a node.",
		Args: exactArgs(0),
		RunE: func(_ *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{errors.New("--out FILE is required")}
			}
			opts.started = true
			pub, err := approval.WriteNewKey(out)
			if err != nil {
				return err
			}
			return opts.printer().Print(render.OperatorKeyView{PublicKey: audit.FormatApprovalKey(pub), File: out})
		},
	}
	keygen.Flags().StringVar(&out, "out", "", "file to write the private key to (mode 0600)")
	operator.AddCommand(keygen)
	return operator
}

func newCeremonyCmd(opts *options) *cobra.Command {
	ceremony := &cobra.Command{Use: "ceremony", Short: "Operator quorum ceremonies: k-of-m signed approvals for dangerous changes",
		Long: "Kinds: " + strings.Join(policy.CeremonyKindNames(), ", ") + ".\n" +
			"See docs/OPERATIONS.md for the runbook."}
	ceremony.AddCommand(newCeremonyProposeCmd(opts), newCeremonyApproveCmd(opts), newCeremonyVerifyCmd(opts))
	ceremony.AddCommand(&cobra.Command{
		Use:   "show ID",
		Short: "Show a ceremony: what it does, its digest, approvals and state",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := opts.getCeremony(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return opts.printer().Print(render.NewCeremonyView(c))
		},
	})
	ceremony.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the ceremonies the cluster keeps, newest first",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := answer(cmd.Context(), opts, kqpb.NewCeremonyServiceClient, func(ctx context.Context, cs kqpb.CeremonyServiceClient) (*kqpb.ListCeremoniesResponse, error) {
				return cs.ListCeremonies(ctx, &kqpb.ListCeremoniesRequest{})
			})
			if err != nil {
				return err
			}
			v := render.CeremonyListView{Ceremonies: []render.CeremonyView{}}
			for _, c := range resp.Ceremonies {
				v.Ceremonies = append(v.Ceremonies, render.NewCeremonyView(c))
			}
			return opts.printer().Print(v)
		},
	})
	ceremony.AddCommand(&cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a pending ceremony (its proposer, an approver or a cluster-admin)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return opts.printCeremony(cmd.Context(), func(ctx context.Context, cs kqpb.CeremonyServiceClient) (*kqpb.Ceremony, error) {
				return cs.CancelCeremony(ctx, &kqpb.CeremonyRequest{Id: args[0]})
			})
		},
	})
	return ceremony
}

func newCeremonyProposeCmd(opts *options) *cobra.Command {
	var (
		key, file, tenant, principal, params string
		op, node, with                       string
		version, protocol                    uint32
		threshold                            int
		delay, ttl                           time.Duration
		deletion                             string
		minSign, minVerify                   int64
	)
	cmd := &cobra.Command{
		Use:   "propose KIND [flags]",
		Short: "Propose a ceremony and print the digest operators approve",
		Long: "Propose a ceremony of KIND:\n" +
			"  key-destroy       --key K --version V [--delay D]\n" +
			"  key-policy        --key K [--deletion-allowed true|false] [--min-sign-version N] [--min-verify-version N]\n" +
			"  policy-change     --file POLICY.yaml   (no operator or quorum change)\n" +
			"  operators         --file POLICY.yaml   (changes operators or quorums)\n" +
			"  tenant-create     --tenant T\n" +
			"  tenant-delete     --tenant T\n" +
			"  deny-removal      --principal P\n" +
			"  unfreeze\n" +
			"  membership        --op add --node ID | --op remove --node ID | --op replace --node ID --with NEW\n" +
			"                    (a new node's addresses are read from cluster.yaml, as kq node add does)\n" +
			"  threshold         --key K --threshold T [--version V]\n" +
			"  protocol-upgrade  --protocol N",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind := policy.CeremonyKind(args[0])
			req := &kqpb.ProposeCeremonyRequest{Kind: string(kind), TtlNanos: int64(ttl), ParamsJson: params}
			var p any
			switch kind {
			case policy.KindKeyDestroy:
				if key == "" || version == 0 {
					return usageError{errors.New("key-destroy needs --key and --version")}
				}
				p = ceremony.KeyDestroyParams{Key: key, Version: version, Delay: int64(delay)}
			case policy.KindKeyPolicy:
				kp := ceremony.KeyPolicyParams{Key: key}
				if deletion != "" {
					b := deletion == "true"
					if !b && deletion != "false" {
						return usageError{errors.New("--deletion-allowed takes true or false")}
					}
					kp.DeletionAllowed = &b
				}
				if minSign >= 0 {
					v := uint32(minSign)
					kp.MinSignVersion = &v
				}
				if minVerify >= 0 {
					v := uint32(minVerify)
					kp.MinVerifyVersion = &v
				}
				p = kp
			case policy.KindPolicyChange, policy.KindOperators:
				if file == "" {
					return usageError{fmt.Errorf("%s needs --file POLICY.yaml", kind)}
				}
				if _, err := readPolicyFile(file); err != nil {
					return err
				}
				doc, err := os.ReadFile(file)
				if err != nil {
					return err
				}
				req.PolicyDocument = doc
			case policy.KindTenantCreate, policy.KindTenantDelete:
				p = ceremony.TenantParams{Tenant: tenant}
			case policy.KindDenyRemoval:
				p = ceremony.PrincipalParams{Principal: principal}
			case policy.KindMembership:
				mp, err := opts.membershipParams(op, node, with)
				if err != nil && params == "" {
					return err
				}
				p = mp
			case policy.KindThreshold:
				if (key == "" || threshold < 1) && params == "" {
					return usageError{errors.New("threshold needs --key and --threshold")}
				}
				p = ceremony.ThresholdParams{Key: key, Version: version, Threshold: threshold}
			case policy.KindProtocolUpgrade:
				if protocol == 0 && params == "" {
					return usageError{errors.New("protocol-upgrade needs --protocol N")}
				}
				p = ceremony.ProtocolParams{Version: protocol}
			}
			if p != nil && params == "" {
				b, err := json.Marshal(p)
				if err != nil {
					return err
				}
				req.ParamsJson = string(b)
			}
			return opts.printCeremony(cmd.Context(), func(ctx context.Context, cs kqpb.CeremonyServiceClient) (*kqpb.Ceremony, error) {
				return cs.ProposeCeremony(ctx, req)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&key, "key", "", "key name (key-destroy, key-policy)")
	f.Uint32Var(&version, "version", 0, "key version (key-destroy; threshold, default the primary)")
	f.DurationVar(&delay, "delay", 0, "pending period before the shares are destroyed (default: the cluster's destroy_pending)")
	f.StringVar(&deletion, "deletion-allowed", "", "true or false (key-policy)")
	f.Int64Var(&minSign, "min-sign-version", -1, "floor (key-policy)")
	f.Int64Var(&minVerify, "min-verify-version", -1, "floor (key-policy)")
	f.StringVar(&file, "file", "", "policy document (policy-change, operators)")
	f.StringVar(&tenant, "tenant", "", "tenant (tenant-create, tenant-delete)")
	f.StringVar(&principal, "principal", "", "principal (deny-removal)")
	f.StringVar(&op, "op", "", "add, remove or replace (membership)")
	f.StringVar(&node, "node", "", "node to add, remove or replace (membership)")
	f.StringVar(&with, "with", "", "the new node of a replace, as in cluster.yaml (membership)")
	f.IntVar(&threshold, "threshold", 0, "new threshold (threshold)")
	f.Uint32Var(&protocol, "protocol", 0, "protocol version to raise to (protocol-upgrade)")
	f.StringVar(&params, "params", "", "the kind's params as JSON, instead of the flags")
	f.DurationVar(&ttl, "ttl", 0, "how long approvals are accepted (default 24h, at most 168h)")
	return cmd
}

func newCeremonyApproveCmd(opts *options) *cobra.Command {
	var (
		keyFile string
		yes     bool
	)
	cmd := &cobra.Command{
		Use:   "approve ID --key FILE [--yes]",
		Short: "Show what a ceremony will do, then sign its digest with your approval key",
		Long: "Fetch the ceremony, re-derive its digest here from what it says it does\n" +
			"(kind, params, cluster, nonce, expiry), show that, and after your confirmation\n" +
			"(--yes for scripts) sign the digest with the approval key in FILE.",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				return usageError{errors.New("--key FILE (your approval key) is required")}
			}
			priv, err := approval.ReadKey(keyFile)
			if err != nil {
				return err
			}
			c, err := opts.getCeremony(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			digest, err := approval.CheckDigest(c)
			if err != nil {
				return err
			}
			pub := audit.FormatApprovalKey(priv.Public().(ed25519.PublicKey))
			if !yes {
				if err := approval.Confirm(opts.stderr, os.Stdin, c, pub); err != nil {
					return err
				}
			}
			sig := ed25519.Sign(priv, digest)
			return opts.printCeremony(cmd.Context(), func(ctx context.Context, cs kqpb.CeremonyServiceClient) (*kqpb.Ceremony, error) {
				return cs.ApproveCeremony(ctx, &kqpb.ApproveCeremonyRequest{Id: c.Id, PublicKey: pub, Signature: hex.EncodeToString(sig)})
			})
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "your approval key file (from kq operator keygen)")
	cmd.Flags().BoolVar(&yes, "yes", false, "approve without asking")
	return cmd
}

func newCeremonyVerifyCmd(opts *options) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "verify --from-file AUDIT.jsonl ID",
		Short: "Re-check a ceremony from an audit export alone: digest, every signature, the quorum",
		Long: "Offline: reads the JSON-lines export (kq audit export), checks the records'\n" +
			"hash links, recomputes the ceremony's digest from its proposal, verifies every\n" +
			"approval's Ed25519 signature against the approver group the proposal lists,\n" +
			"and that the ceremony executed exactly when the quorum was reached.",
		Args: exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if file == "" {
				return usageError{errors.New("--from-file FILE is required")}
			}
			opts.started = true
			f, err := os.Open(file)
			if err != nil {
				return err
			}
			defer f.Close()
			var recs []audit.Record
			if err := audit.ReadJSONL(f, func(_ int, r *audit.Record) error { recs = append(recs, *r); return nil },
				func(line int, err error) error { return fmt.Errorf("line %d: %w", line, err) }); err != nil {
				return err
			}
			partial := len(recs) > 0 && recs[0].Seq != 1
			if _, err := audit.Verify(recs, nil, partial); err != nil {
				return err
			}
			rep, err := audit.VerifyCeremony(recs, args[0])
			if err != nil {
				return err
			}
			return opts.printer().Print(render.CeremonyReportView(rep))
		},
	}
	cmd.Flags().StringVar(&file, "from-file", "", "a JSON-lines audit export")
	return cmd
}

func newFreezeCmd(opts *options) *cobra.Command {
	var reason string
	freeze := &cobra.Command{
		Use:   "freeze [--reason TEXT]",
		Short: "Stop all signing cluster-wide, at once (any cluster-admin); unfreezing is a ceremony",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.printFreeze(cmd.Context(), func(ctx context.Context, cs kqpb.CeremonyServiceClient) (*kqpb.FreezeState, error) {
				return cs.Freeze(ctx, &kqpb.FreezeRequest{Reason: reason})
			})
		},
	}
	freeze.Flags().StringVar(&reason, "reason", "", "why, for the audit record (at most 256 bytes)")
	freeze.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Say whether the cluster is frozen",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.printFreeze(cmd.Context(), func(ctx context.Context, cs kqpb.CeremonyServiceClient) (*kqpb.FreezeState, error) {
				return cs.GetFreeze(ctx, &kqpb.GetFreezeRequest{})
			})
		},
	})
	return freeze
}

func newUnfreezeCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "unfreeze",
		Short: "Lift a freeze directly: only where the policy lists no operators (else: kq ceremony propose unfreeze)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return opts.printFreeze(cmd.Context(), func(ctx context.Context, cs kqpb.CeremonyServiceClient) (*kqpb.FreezeState, error) {
				return cs.Unfreeze(ctx, &kqpb.UnfreezeRequest{})
			})
		},
	}
}

func (o *options) getCeremony(ctx context.Context, id string) (*kqpb.Ceremony, error) {
	return answer(ctx, o, kqpb.NewCeremonyServiceClient, func(ctx context.Context, cs kqpb.CeremonyServiceClient) (*kqpb.Ceremony, error) {
		return cs.GetCeremony(ctx, &kqpb.CeremonyRequest{Id: id})
	})
}

// printCeremony runs one CeremonyService call that answers a ceremony and
// prints it.
func (o *options) printCeremony(ctx context.Context, call func(context.Context, kqpb.CeremonyServiceClient) (*kqpb.Ceremony, error)) error {
	c, err := answer(ctx, o, kqpb.NewCeremonyServiceClient, call)
	if err != nil {
		return err
	}
	return o.printer().Print(render.NewCeremonyView(c))
}

// printFreeze runs one CeremonyService call that answers the freeze state
// and prints it.
func (o *options) printFreeze(ctx context.Context, call func(context.Context, kqpb.CeremonyServiceClient) (*kqpb.FreezeState, error)) error {
	st, err := answer(ctx, o, kqpb.NewCeremonyServiceClient, call)
	if err != nil {
		return err
	}
	return o.printer().Print(render.NewFreezeView(st))
}

// membershipParams builds a membership ceremony's params; a new node's
// addresses come from cluster.yaml, as for kq node add.
func (o *options) membershipParams(op, node, with string) (ceremony.MembershipParams, error) {
	p := ceremony.MembershipParams{Op: op}
	newNode := func(id string) error {
		req, err := o.addNodeRequest(id)
		if err != nil {
			return err
		}
		p.New = &ceremony.NewMember{ID: req.Id, Raft: req.RaftAddress, Peer: req.PeerAddress, Client: req.ClientAddress}
		return nil
	}
	switch {
	case node == "":
		return p, usageError{errors.New("membership needs --op add|remove|replace and --node ID")}
	case op == membership.Add:
		return p, newNode(node)
	case op == membership.Remove:
		p.Node = node
		return p, nil
	case op == membership.Replace:
		if with == "" {
			return p, usageError{errors.New("--op replace needs --with NEW")}
		}
		p.Node = node
		return p, newNode(with)
	}
	return p, usageError{fmt.Errorf("--op %q: want add, remove or replace", op)}
}
