package node

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/node/audittrail"
	"github.com/keyquorum/keyquorum/node/service"
)

// nodeAudit is the node's part of the audit trail: the export of the
// replicated chain, the aggregator of refusals that never reach the log,
// and the leader's checkpoint driver.
type nodeAudit struct {
	log        *audittrail.Export
	denials    *audittrail.Denials
	checkpoint atomic.Bool // a checkpoint is being signed
	keyAsked   atomic.Bool // this leader term proposed the audit key
}

// auditObserver feeds applied entries to the event queue and the records
// they appended to the export.
type auditObserver struct {
	*eventQueue
	*audittrail.Export
}

var _ fsm.AuditObserver = auditObserver{}

// openAudit turns on the replicated chain and opens the export. Call it
// after the FSM exists and before raft opens.
func (n *Node) openAudit() error {
	if auditCompiled {
		if err := n.fsm.EnableAudit(auditchain.DefaultConfig()); err != nil {
			return err
		}
	}
	l, err := audittrail.OpenExport(filepath.Join(n.dir, "audit"), n.log.With("component", "audit"), n.fsm.AuditRecent)
	if err != nil {
		return err
	}
	n.audit = &nodeAudit{log: l, denials: audittrail.NewDenials(n.cluster.Audit.DenialWindow)}
	if auditCompiled {
		n.fsm.SetObserver(auditObserver{n.events, l})
	}
	return nil
}

// runAudit runs the export writer and, while this node leads, the audit
// key bootstrap, checkpoints and denial flushes, until ctx ends.
func (n *Node) runAudit(ctx context.Context) {
	if !auditCompiled {
		n.log.Warn("AUDIT TRAIL COMPILED OUT: this build is for measuring the audit's cost only")
		return
	}
	n.spawn(func() { n.audit.log.Run(ctx.Done()) })
	n.spawn(func() { n.auditLoop(ctx) })
}

func auditCheckpointID(seq uint64) string {
	return fmt.Sprintf("%scheckpoint-%d", fsm.AuditRequestPrefix, seq)
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

// flushDenials appends this node's aggregated refusals once their window
// is over: the leader directly, a follower as a member report.
func (n *Node) flushDenials(ctx context.Context) {
	c := n.audit.denials.Take(n.clock.Now(), n.self.ID)
	if c == nil {
		return
	}
	data, err := n.encode(c)
	if err != nil {
		n.log.Error("encode audit denials", "err", err)
		n.audit.denials.Done()
		return
	}
	if err := n.reportOnce(ctx, data); err != nil {
		n.log.Debug("audit denials not appended yet", "err", err)
		return // pending: retried on the next tick
	}
	n.audit.denials.Done()
}
