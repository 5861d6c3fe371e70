package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/auditexport"
	"github.com/keyquorum/keyquorum/cmd/kq/internal/render"
	"github.com/keyquorum/keyquorum/consensus/audit"
)

func newAuditCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Query, export and verify the tamper-evident audit chain"}
	cmd.AddCommand(newAuditQueryCmd(opts), newAuditExportCmd(opts), newAuditVerifyCmd(opts), newAuditHeadCmd(opts))
	return cmd
}

func newAuditQueryCmd(opts *options) *cobra.Command {
	var q kqpb.AuditQueryRequest
	var since, until string
	var limit uint32
	cmd := &cobra.Command{
		Use:   "query [--key K] [--actor A] [--op OP] [--outcome O] [--since T] [--until T] [--limit N]",
		Short: "Show audit records that match every filter given",
		Long: "Filters are applied by the node. --since and --until take RFC 3339 times or a\n" +
			"duration back from now (\"1h\"). Outcomes: ok, duplicate, denied, failed, stale.\n" +
			"Ops: create_key, share_stored, sign, sign_completed, sign_retry, sign_failed,\n" +
			"checkpoint, and for aggregated denials the refused method (get_key, ...).\n" +
			"A page holds at most --limit records; pass --page-token to go on.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			now := time.Now()
			if q.SinceUnixNano, err = parseWhen("--since", since, now); err != nil {
				return err
			}
			if q.UntilUnixNano, err = parseWhen("--until", until, now); err != nil {
				return err
			}
			q.Limit = limit
			r, err := answer(cmd.Context(), opts, kqpb.NewAuditServiceClient, func(ctx context.Context, c kqpb.AuditServiceClient) (*kqpb.AuditQueryResponse, error) {
				return c.Query(ctx, &q)
			})
			if err != nil {
				return err
			}
			v := render.AuditQueryView{Records: make([]audit.Record, 0, len(r.GetRecords())), NextPageToken: r.GetNextPageToken()}
			for _, p := range r.GetRecords() {
				v.Records = append(v.Records, auditexport.FromProto(p))
			}
			return opts.printer().Print(v)
		},
	}
	f := cmd.Flags()
	f.StringVar(&q.Key, "key", "", "key name")
	f.StringVar(&q.Actor, "actor", "", "actor, e.g. spiffe://CLUSTER/client/NAME or node:n1")
	f.StringVar(&q.Op, "op", "", "operation, e.g. sign")
	f.StringVar(&q.Outcome, "outcome", "", "ok, duplicate, denied, failed or stale")
	f.StringVar(&since, "since", "", "oldest time (RFC 3339, or a duration ago)")
	f.StringVar(&until, "until", "", "newest time (RFC 3339, or a duration ago)")
	f.Uint32Var(&limit, "limit", 100, "records per page (at most 1000)")
	f.StringVar(&q.PageToken, "page-token", "", "continue a previous query")
	return cmd
}

func newAuditExportCmd(opts *options) *cobra.Command {
	var file string
	var from uint64
	cmd := &cobra.Command{
		Use:   "export [--file FILE] [--from-seq N]",
		Short: "Write one node's audit chain as JSON lines (--node picks the node)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := opts.stdout
			if file != "" {
				f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			bw := bufio.NewWriter(w)
			n := 0
			err := opts.auditCall(cmd.Context(), func(ctx context.Context, c kqpb.AuditServiceClient) error {
				return auditexport.Records(ctx, c, from, func(r *audit.Record) error {
					b, err := audit.AppendJSONL(nil, r)
					if err == nil {
						_, err = bw.Write(b)
						n++
					}
					return err
				})
			})
			if err == nil {
				err = bw.Flush()
			}
			if err != nil {
				return err
			}
			if f, ok := w.(*os.File); ok && file != "" {
				if err := f.Sync(); err != nil {
					return err
				}
				fmt.Fprintf(opts.stderr, "exported %d records to %s\n", n, file)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "output file (default: standard output)")
	cmd.Flags().Uint64Var(&from, "from-seq", 0, "first seq to export (default: the oldest)")
	return cmd
}

func newAuditVerifyCmd(opts *options) *cobra.Command {
	var file, pubHex string
	cmd := &cobra.Command{
		Use:   "verify [--from-file FILE] [--public-key HEX]",
		Short: "Verify the audit chain and every checkpoint signature; exits 1 naming the first bad record",
		Long: "Checks that each record hashes to its hash, links to the one before, and that\n" +
			"every checkpoint is a valid Ed25519 signature by the cluster's audit key over\n" +
			"a head of the chain. Without --from-file it verifies the export of one node\n" +
			"(--node picks it). The audit public key comes from --public-key, else from\n" +
			"the cluster. A file that does not start at seq 1 is verified from its first\n" +
			"record on.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var pub []byte
			var err error
			if pubHex != "" {
				if pub, err = parseHex("--public-key", pubHex); err != nil {
					return err
				}
				if len(pub) != 32 {
					return usagef("--public-key must be 32 bytes, got %d", len(pub))
				}
			} else {
				if pub, err = opts.auditPublicKey(cmd.Context()); err != nil {
					return err
				}
			}
			var rep audit.Report
			if file != "" {
				f, err := os.Open(file)
				if err != nil {
					return err
				}
				defer f.Close()
				partial, err := auditexport.StartsLate(f)
				if err != nil {
					return err
				}
				rep, err = audit.VerifyJSONL(f, pub, partial)
				if err != nil {
					return err
				}
			} else {
				var v *audit.Verifier
				err = opts.auditCall(cmd.Context(), func(ctx context.Context, c kqpb.AuditServiceClient) error {
					v = nil
					return auditexport.Records(ctx, c, 0, func(r *audit.Record) error {
						if v == nil {
							v = audit.NewVerifier(pub, r.Seq != 1)
						}
						return v.Add(r)
					})
				})
				if err != nil {
					return err
				}
				if v == nil {
					return errors.New("audit: the node holds no records")
				}
				if rep, err = v.Finish(); err != nil {
					return err
				}
			}
			return opts.printer().Print(render.VerifyReportView(rep))
		},
	}
	cmd.Flags().StringVar(&file, "from-file", "", "a JSON-lines export to verify")
	cmd.Flags().StringVar(&pubHex, "public-key", "", "the audit key in hex (default: ask the cluster)")
	return cmd
}

func newAuditHeadCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "head",
		Short: "Show one node's chain head, newest checkpoint and the audit public key",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := answer(cmd.Context(), opts, kqpb.NewAuditServiceClient, func(ctx context.Context, c kqpb.AuditServiceClient) (*kqpb.AuditHeadResponse, error) {
				return c.Head(ctx, &kqpb.AuditHeadRequest{})
			})
			if err != nil {
				return err
			}
			return opts.printer().Print(render.AuditHeadView{Node: r.GetNodeId(), Seq: r.GetSeq(), Hash: r.GetHash(),
				CheckpointSeq: r.GetCheckpointSeq(), CheckpointHead: r.GetCheckpointHead(), FirstSeq: r.GetFirstSeq(),
				AuditKeyState: r.GetAuditKeyState(), AuditPublicKey: hex.EncodeToString(r.GetAuditPublicKey())})
		},
	}
}

// auditCall runs fn against one node's AuditService under --timeout.
func (o *options) auditCall(ctx context.Context, fn func(context.Context, kqpb.AuditServiceClient) error) error {
	return serviceCall(ctx, o, kqpb.NewAuditServiceClient, fn)
}

// auditPublicKey asks the cluster for its active audit key.
func (o *options) auditPublicKey(ctx context.Context) ([]byte, error) {
	var r *kqpb.AuditHeadResponse
	err := o.auditCall(ctx, func(ctx context.Context, c kqpb.AuditServiceClient) (err error) {
		r, err = c.Head(ctx, &kqpb.AuditHeadRequest{})
		return err
	})
	if err != nil {
		return nil, err
	}
	if len(r.GetAuditPublicKey()) != 32 {
		return nil, fmt.Errorf("the cluster's audit key is %s; pass --public-key", r.GetAuditKeyState())
	}
	return r.GetAuditPublicKey(), nil
}

// parseWhen reads an RFC 3339 time, or a duration back from now.
func parseWhen(flag, s string, now time.Time) (int64, error) {
	if s == "" {
		return 0, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixNano(), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UnixNano(), nil
	}
	if ns, err := strconv.ParseInt(s, 10, 64); err == nil && ns > 0 {
		return ns, nil
	}
	return 0, usagef("%s %q: want an RFC 3339 time (2006-01-02T15:04:05Z) or a duration such as 1h", flag, s)
}
