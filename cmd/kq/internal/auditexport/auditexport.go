// Package auditexport reads a node's audit chain as kq exports and
// verifies it: the Export stream turned back into audit records, and
// whether an export file starts past the chain's first record.
package auditexport

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/audit"
)

// Records streams one node's audit chain from seq from (0: its oldest)
// and hands fn each record in the export's form.
func Records(ctx context.Context, c kqpb.AuditServiceClient, from uint64, fn func(*audit.Record) error) error {
	stream, err := c.Export(ctx, &kqpb.AuditExportRequest{FromSeq: from})
	if err != nil {
		return err
	}
	for {
		p, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		r := FromProto(p)
		if err := fn(&r); err != nil {
			return err
		}
	}
}

// StartsLate reports whether an export's first record is past seq 1 (a
// --from-seq export or a node that joined from a snapshot), and rewinds.
func StartsLate(f *os.File) (bool, error) {
	var first *audit.Record
	stop := errors.New("stop")
	err := audit.ReadJSONL(f, func(_ int, r *audit.Record) error { first = r; return stop },
		func(int, error) error { return stop })
	if err != nil && !errors.Is(err, stop) {
		return false, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return false, err
	}
	return first != nil && first.Seq > 1, nil
}

// FromProto is a record as the chain hashed it, so what kq prints or
// exports verifies against the chain.
func FromProto(p *kqpb.AuditRecord) audit.Record {
	r := audit.Record{Seq: p.GetSeq(), Index: p.GetIndex(), Time: p.GetTimeUnixNano(), Actor: p.GetActor(), Op: p.GetOp(),
		Key: p.GetKey(), Version: p.GetVersion(), RequestID: p.GetRequestId(), InputSHA256: p.GetInputSha256(),
		Outcome: audit.Outcome(p.GetOutcome()), Reason: p.GetReason(), Count: p.GetCount(),
		WindowStart: p.GetWindowStartUnixNano(), WindowEnd: p.GetWindowEndUnixNano(), PublicKey: p.GetPublicKey(),
		PrevHash: p.GetPrevHash(), Hash: p.GetHash(), Ceremony: p.GetCeremony().Evidence()}
	if c := p.GetCheckpoint(); c != nil {
		r.Checkpoint = &audit.Checkpoint{Seq: c.GetSeq(), Head: c.GetHead(), Signature: c.GetSignature()}
	}
	return r
}
