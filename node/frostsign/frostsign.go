// Package frostsign is a member's work on the FROST signing path for
// Ed25519 keys: its pool of nonces and the commitments it publishes for
// them, its signature share in each attempt it is in, the coordinator's
// check and aggregation of the committee's shares, and, on the leader,
// the choice of the commitments a sign request names.
package frostsign

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/metrics"
	"github.com/keyquorum/keyquorum/tss"
)

// Checks a FROST attempt's blame names (fsm.AttemptBlamed.Check).
const (
	// CheckShare: a FROST signature share failed verification.
	CheckShare = "frost-share"
	// CheckCommitment: a FROST commitment in the attempt was not
	// the member's or did not decode.
	CheckCommitment = "frost-commitment"
)

// State is the replicated state the work reads: this member's replica.
// *fsm.FSM is one.
type State interface {
	Protocol() uint32
	Boot(node string) string
	Keys() []*fsm.Key
	Key(name string) (*fsm.Key, bool)
	Sign(requestID string) (*fsm.Sign, bool)
	AppliedIndex() uint64
	FrostIDsOf(node string) (map[string]bool, uint64)
	FrostCommitments(key string, version, epoch uint32) []*fsm.FrostCommitment
}

// Member is what the work needs of the member it runs in.
type Member interface {
	// Report appends this member's report, retrying while there is no leader.
	Report(ctx context.Context, cmd fsm.Command)
	// Propose appends an entry as leader, logging a failure.
	Propose(ctx context.Context, cmd fsm.Command)
	// Apply appends an entry as leader and returns its result.
	Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error)
	// Go runs f on a goroutine the member waits for when it stops.
	Go(f func())
	// Share opens this member's share of a key version.
	Share(ctx context.Context, key string, version, epoch uint32) (*tss.Share, error)
	// PeerConn returns a connection to a member's peer port.
	PeerConn(id string) (*grpc.ClientConn, error)
	// Leader returns the leader's id, or "" when there is none.
	Leader() string
	// IsLeader reports whether this member leads.
	IsLeader() bool
	// Reachable returns the members the leader can reach.
	Reachable() []string
	// Eligible leaves out of sorted members those the blame rule
	// excludes or that are not ready, unless fewer than need would remain.
	Eligible(members []string, need int) []string
	// Committee picks one size-member committee of sorted members, by
	// the leader's rotation of first attempts.
	Committee(members []string, size int) []string
	// Applied returns a channel closed when an entry of the request is
	// applied on this replica.
	Applied(requestID string) <-chan struct{}
	// Blame appends this member's accusation of culprit in attempt s.
	Blame(ctx context.Context, s *fsm.Sign, culprit, check string, evidence [32]byte)
	// RetryAvoiding moves attempt s to a committee without culprit, or
	// fails it.
	RetryAvoiding(ctx context.Context, s *fsm.Sign, culprit, reason string)
}

// Config is what the work is set up with.
type Config struct {
	Cluster *config.Cluster
	Self    string // this member's id
	Boot    string // this process life
	Log     *slog.Logger
	Metrics *metrics.Set
	// ReportTimeout bounds a report the coordinator makes of a signature.
	ReportTimeout time.Duration
	// NonceReuse is the frost-nonce-reuse deliberate bug.
	NonceReuse bool
}

// AttemptKey names one attempt of one request.
func AttemptKey(s *fsm.Sign) string { return fmt.Sprintf("%s/%d", s.RequestID, s.Attempt) }

// On reports whether Ed25519 keys sign with FROST on this cluster.
func (w *Work) On() bool { return w.cfg.Cluster.Sign.Ed25519 == config.SignerFROST }

// Signs reports whether a request for the key may sign with FROST.
func (w *Work) Signs(k *fsm.Key) bool {
	return w.On() && k.Algorithm == tss.Ed25519.String()
}
