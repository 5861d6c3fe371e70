package checker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// Audited reads every node's audit chain (ReadAudit) and judges them
// (AuditAgreement). Run it after healing, while the nodes still run.
func Audited(ctx context.Context, c *cluster.Cluster, timeout time.Duration) (Check, []AuditNode) {
	return AuditAgreement(ReadAudit(ctx, c, timeout))
}

// ReadAudit asks every node for its audit head, then for its whole export.
// Every head is read before any export, so each export reaches at least
// the head it is compared with. A node that does not answer is retried
// until timeout; then its chain carries Err.
func ReadAudit(ctx context.Context, c *cluster.Cluster, timeout time.Duration) []AuditChain {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ids := c.IDs()
	chains := make([]AuditChain, len(ids))
	for i, id := range ids {
		chains[i] = AuditChain{Node: id}
		chains[i].Err = retry(ctx, func() error { return readHead(ctx, c, &chains[i]) })
	}
	for i := range chains {
		if chains[i].Err == nil {
			chains[i].Err = retry(ctx, func() error { return readExport(ctx, c, &chains[i]) })
		}
	}
	return chains
}

// retry calls fn until it succeeds or ctx ends; a healed node may still be
// restarting or reconnecting.
func retry(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func readHead(ctx context.Context, c *cluster.Cluster, ch *AuditChain) error {
	ac, err := c.Audit(ch.Node)
	if err != nil {
		return fmt.Errorf("checker: audit client: %w", err)
	}
	hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h, err := ac.Head(hctx, &kqpb.AuditHeadRequest{})
	if err != nil {
		return fmt.Errorf("checker: audit head: %w", err)
	}
	ch.HeadSeq, ch.HeadHash, ch.FirstSeq = h.Seq, h.Hash, h.FirstSeq
	ch.KeyState, ch.PublicKey = h.AuditKeyState, h.AuditPublicKey
	return nil
}

// readExport streams the node's export from its oldest record; a stream
// that fails part way is read again from the start.
func readExport(ctx context.Context, c *cluster.Cluster, ch *AuditChain) error {
	ac, err := c.Audit(ch.Node)
	if err != nil {
		return fmt.Errorf("checker: audit client: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stream, err := ac.Export(sctx, &kqpb.AuditExportRequest{})
	if err != nil {
		return fmt.Errorf("checker: audit export: %w", err)
	}
	var recs []audit.Record
	for {
		r, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("checker: audit export after %d records: %w", len(recs), err)
		}
		recs = append(recs, recordFromProto(r))
	}
	ch.Records = recs
	return nil
}

// recordFromProto is the inverse of the node's conversion: a record read
// through the API hashes as it did in the chain.
func recordFromProto(r *kqpb.AuditRecord) audit.Record {
	out := audit.Record{Seq: r.Seq, Index: r.Index, Time: r.TimeUnixNano, Actor: r.Actor, Op: r.Op, Key: r.Key,
		Version: r.Version, RequestID: r.RequestId, InputSHA256: r.InputSha256, Outcome: audit.Outcome(r.Outcome),
		Reason: r.Reason, Count: r.Count, WindowStart: r.WindowStartUnixNano, WindowEnd: r.WindowEndUnixNano,
		PublicKey: r.PublicKey, PrevHash: r.PrevHash, Hash: r.Hash, Ceremony: r.Ceremony.Evidence()}
	if cp := r.Checkpoint; cp != nil {
		out.Checkpoint = &audit.Checkpoint{Seq: cp.Seq, Head: cp.Head, Signature: cp.Signature}
	}
	return out
}
