package audittrail

import (
	"context"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
)

// Bounds on one audit query, so an incident-time query cannot take a node
// down: a page returns at most auditMaxLimit records and examines at most
// auditMaxScan; the page token lets the caller go on from there.
const (
	auditDefaultLimit = 100
	auditMaxLimit     = 1000
	auditMaxScan      = 100_000
	auditExportBatch  = 256
)

// Node is what the service reads of the node it runs in.
type Node interface {
	// ID is the node's member id.
	ID() string
	// Actor authenticates the caller; the error is a gRPC status.
	Actor(ctx context.Context) (string, error)
	// AuditScope is what actor may read: every record, or those of its
	// tenants' keys; the error is a gRPC status.
	AuditScope(actor string) (all bool, tenants []string, err error)
	AuditHead() auditchain.Head
	AuditKey() (k *fsm.Key, attempts int, ok bool)
}

// Service implements AuditService from this node's own copy of the
// chain: its export files, then the replicated state's newest records.
// Calls are served locally, never forwarded, so each node's copy can be
// read and compared.
type Service struct {
	kqpb.UnimplementedAuditServiceServer
	n      Node
	export *Export
}

// NewService serves the chain as n's export holds it.
func NewService(n Node, export *Export) *Service { return &Service{n: n, export: export} }

func (s *Service) Query(ctx context.Context, req *kqpb.AuditQueryRequest) (*kqpb.AuditQueryResponse, error) {
	actor, err := s.n.Actor(ctx)
	if err != nil {
		return nil, err
	}
	// A principal reads the records of its own tenants' keys only; the
	// cluster's own records (policy, members, denials, checkpoints) are
	// cluster-admins'. Another tenant's records are skipped as if absent.
	all, tenants, err := s.n.AuditScope(actor)
	if err != nil {
		return nil, err
	}
	limit := int(req.Limit)
	switch {
	case limit == 0:
		limit = auditDefaultLimit
	case limit > auditMaxLimit:
		return nil, status.Errorf(codes.InvalidArgument, "limit %d is above %d", limit, auditMaxLimit)
	}
	if req.SinceUnixNano != 0 && req.UntilUnixNano != 0 && req.UntilUnixNano < req.SinceUnixNano {
		return nil, status.Error(codes.InvalidArgument, "until is before since")
	}
	from := uint64(1)
	if req.PageToken != "" {
		v, err := strconv.ParseUint(req.PageToken, 10, 64)
		if err != nil || v == 0 {
			return nil, status.Error(codes.InvalidArgument, "bad page token")
		}
		from = v
	}
	out := &kqpb.AuditQueryResponse{}
	var next uint64
	done := true
	err = s.export.Scan(from, func(r *audit.Record) bool {
		if ctx.Err() != nil {
			return false
		}
		out.Scanned++
		if req.UntilUnixNano != 0 && r.Time > req.UntilUnixNano {
			return false // replicated time never goes back: nothing later matches
		}
		if matches(req, r) && fsm.AuditVisible(all, tenants, r.Key) {
			out.Records = append(out.Records, recordToProto(r))
		}
		if len(out.Records) >= limit || out.Scanned >= auditMaxScan {
			next, done = r.Seq+1, false
			return false
		}
		return true
	})
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	if !done {
		out.NextPageToken = strconv.FormatUint(next, 10)
	}
	return out, nil
}

func matches(q *kqpb.AuditQueryRequest, r *audit.Record) bool {
	return (q.Key == "" || q.Key == r.Key) &&
		(q.Actor == "" || q.Actor == r.Actor) &&
		(q.Op == "" || q.Op == r.Op) &&
		(q.Outcome == "" || q.Outcome == string(r.Outcome)) &&
		(q.SinceUnixNano == 0 || r.Time >= q.SinceUnixNano)
}

func (s *Service) Export(req *kqpb.AuditExportRequest, stream grpc.ServerStreamingServer[kqpb.AuditRecord]) error {
	ctx := stream.Context()
	actor, err := s.n.Actor(ctx)
	if err != nil {
		return err
	}
	// The export is the whole chain, for verifying it: cluster-admins
	// only once a policy is set; a tenant's principal queries its records.
	if all, _, err := s.n.AuditScope(actor); err != nil || !all {
		return status.Error(codes.PermissionDenied, "audit export is the whole chain: cluster-admins only; use audit query for a tenant's records")
	}
	var sendErr error
	err = s.export.Scan(max(req.FromSeq, 1), func(r *audit.Record) bool {
		if sendErr = stream.Send(recordToProto(r)); sendErr != nil {
			return false
		}
		return ctx.Err() == nil
	})
	if sendErr != nil {
		return sendErr
	}
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	return nil
}

func (s *Service) Head(ctx context.Context, _ *kqpb.AuditHeadRequest) (*kqpb.AuditHeadResponse, error) {
	n := s.n
	if _, err := n.Actor(ctx); err != nil {
		return nil, err
	}
	h := n.AuditHead()
	out := &kqpb.AuditHeadResponse{NodeId: n.ID(), Seq: h.Seq, Hash: h.Hash, CheckpointSeq: h.CheckpointSeq,
		CheckpointHead: h.CheckpointHead, AuditKeyState: "absent", FirstSeq: s.export.FirstSeq()}
	if k, _, ok := n.AuditKey(); ok {
		out.AuditKeyState = string(k.State())
		if k.State() == fsm.KeyActive {
			out.AuditPublicKey = k.PublicKey()
		}
	}
	return out, nil
}

// recordToProto converts losslessly: a record read back from the API
// hashes as it did in the chain.
func recordToProto(r *audit.Record) *kqpb.AuditRecord {
	out := &kqpb.AuditRecord{Seq: r.Seq, Index: r.Index, TimeUnixNano: r.Time, Actor: r.Actor, Op: r.Op, Key: r.Key,
		Version: r.Version, RequestId: r.RequestID, InputSha256: r.InputSHA256, Outcome: string(r.Outcome), Reason: r.Reason,
		Count: r.Count, WindowStartUnixNano: r.WindowStart, WindowEndUnixNano: r.WindowEnd, PublicKey: r.PublicKey,
		PrevHash: r.PrevHash, Hash: r.Hash, Ceremony: kqpb.AuditCeremonyOf(r.Ceremony)}
	if c := r.Checkpoint; c != nil {
		out.Checkpoint = &kqpb.AuditCheckpoint{Seq: c.Seq, Head: c.Head, Signature: c.Signature}
	}
	return out
}
