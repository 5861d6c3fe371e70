package node

import (
	"context"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/node/audittrail"
	"github.com/keyquorum/keyquorum/node/auditwork"
	"github.com/keyquorum/keyquorum/node/service"
)

// auditMember is what the audit work (node/auditwork) asks of this node.
type auditMember struct{ n *Node }

var _ auditwork.Member = auditMember{}

func (a auditMember) IsLeader() bool                                 { return a.n.raft.IsLeader() }
func (a auditMember) Reachable() []string                            { return a.n.raft.Reachable() }
func (a auditMember) Go(f func())                                    { a.n.spawn(f) }
func (a auditMember) Propose(ctx context.Context, cmd fsm.Command)   { a.n.propose(ctx, cmd) }
func (a auditMember) WatchSign(id string) <-chan struct{}            { return a.n.waiters.WatchSign(id) }
func (a auditMember) Encode(cmd fsm.Command) ([]byte, error)         { return a.n.encode(cmd) }
func (a auditMember) ReportOnce(ctx context.Context, b []byte) error { return a.n.reportOnce(ctx, b) }

func (a auditMember) Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	return a.n.apply(ctx, cmd)
}

func (a auditMember) ProposeSign(ctx context.Context, k *fsm.Key, presign bool, cmd *fsm.SignRequested) (bool, []fsm.FrostCommitment, error) {
	return a.n.proposeSign(ctx, k, presign, cmd)
}

// openAudit turns on the replicated chain and opens the export. Call it
// after the FSM exists and before raft opens.
func (n *Node) openAudit() (err error) {
	n.audit, err = auditwork.Open(n.fsm, n.events, auditMember{n}, auditwork.Config{
		Cluster: n.cluster, ID: n.self.ID, Dir: n.dir, Log: n.log, Now: n.clock.Now})
	return err
}

// auditNode is what the audit service reads of this node.
type auditNode struct{ n *Node }

var _ audittrail.Node = auditNode{}

func (a auditNode) ID() string                                { return a.n.self.ID }
func (a auditNode) Actor(ctx context.Context) (string, error) { return a.n.actor(ctx) }
func (a auditNode) AuditHead() auditchain.Head                { return a.n.fsm.AuditHead() }
func (a auditNode) AuditKey() (*fsm.Key, int, bool)           { return a.n.fsm.AuditKey() }

func (a auditNode) AuditScope(actor string) (bool, []string, error) {
	all, tenants, err := a.n.fsm.AuditScope(actor)
	return all, tenants, service.ToStatus(err)
}
