package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/service"
)

// auditTick paces the audit loop: key bootstrap, checkpoints, denials.
const auditTick = 500 * time.Millisecond

// auditLoop does the audit's periodic work. Every node flushes its
// aggregated denials; the leader also creates the audit key once every
// member is reachable, and signs a checkpoint whenever
// audit.checkpoint_every records followed the last one.
func (n *Node) auditLoop(ctx context.Context) {
	every(ctx, auditTick, func() {
		n.flushDenials(ctx)
		if !n.raft.IsLeader() {
			n.audit.keyAsked.Store(false)
			return
		}
		k, attempts, ok := n.fsm.AuditKey()
		switch {
		case !ok || k.State() == fsm.KeyFailed:
			n.createAuditKey(ctx, attempts)
		case k.State() == fsm.KeyActive:
			n.maybeCheckpoint(ctx, k)
		}
	})
}

// createAuditKey proposes the cluster's Ed25519 audit key, under the next
// name after failed attempts. Key generation needs every member, so it
// waits until all are reachable; a request id per name makes a repeat by a
// later leader a duplicate.
func (n *Node) createAuditKey(ctx context.Context, attempts int) {
	members := n.cluster.NodeIDs()
	if len(absent(members, n.raft.Reachable())) > 0 || n.audit.keyAsked.Swap(true) {
		return
	}
	name := fsm.AuditKeyName
	if attempts > 0 {
		name = fmt.Sprintf("%s.%d", fsm.AuditKeyName, attempts+1)
	}
	n.log.Info("creating the audit key", "key", name)
	n.spawn(func() {
		defer n.audit.keyAsked.Store(false) // the next tick sees the key, or asks again
		n.propose(ctx, &fsm.CreateKey{RequestID: fsm.AuditRequestPrefix + "key-" + name, Name: name,
			Algorithm: "ed25519", Threshold: n.cluster.Threshold, Members: members,
			Actor: fsm.NodeActor(n.self.ID)})
	})
}

// maybeCheckpoint starts signing the head when enough records followed the
// last checkpoint and no checkpoint is in flight.
func (n *Node) maybeCheckpoint(ctx context.Context, k *fsm.Key) {
	h := n.fsm.AuditHead()
	if h.Seq < h.CheckpointSeq+uint64(n.cluster.Audit.CheckpointEvery) || !n.audit.checkpoint.CompareAndSwap(false, true) {
		return
	}
	n.spawn(func() {
		defer n.audit.checkpoint.Store(false)
		if err := n.checkpoint(ctx, k, h.Seq, h.Hash); err != nil {
			n.log.Warn("audit checkpoint", "seq", h.Seq, "err", err)
		}
	})
}

// checkpoint has the audit key sign the head through the ordinary signing
// path, under a reserved request id, then appends the checkpoint.
func (n *Node) checkpoint(ctx context.Context, k *fsm.Key, seq uint64, head string) error {
	id := auditCheckpointID(seq)
	sig, err := n.auditSign(ctx, k, id, audit.CheckpointMessage(seq, head))
	if errors.Is(err, errAuditSignEnded) {
		return nil // the next tick signs a newer head
	}
	if err != nil {
		return err
	}
	_, err = n.apply(ctx, &fsm.AuditCheckpoint{RequestID: id, Key: k.Name, Seq: seq, Head: head, Signature: sig,
		Actor: fsm.NodeActor(n.self.ID)})
	return err
}

// errAuditSignEnded is returned when an audit signature failed or its
// record was evicted before this node saw it complete.
var errAuditSignEnded = fmt.Errorf("node: audit key %w", service.ErrSignEnded)

// auditSign has the audit key k sign msg through the ordinary signing
// path, as this member, under request id id (which starts with
// fsm.AuditRequestPrefix), and waits for the signature. A request
// already made under id is awaited, not repeated.
func (n *Node) auditSign(ctx context.Context, k *fsm.Key, id string, msg []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(n.cluster.Sign.MaxAttempts+1)*n.cluster.Sign.Timeout)
	defer cancel()
	wake := n.waiters.watch(signWaitKey(id))
	if _, seen := n.fsm.Sign(id); !seen {
		// The ordinary path: FROST commitments when the audit key's pool
		// has them, so an audit signature costs what any Ed25519
		// signature does, else tss-lib's rounds.
		if _, _, err := n.proposeSign(ctx, k, true, &fsm.SignRequested{RequestID: id, Key: k.Name,
			Digest: msg, Actor: fsm.NodeActor(n.self.ID)}); err != nil {
			return nil, err
		}
	}
	for {
		s, ok := n.fsm.Sign(id)
		if !ok {
			return nil, errAuditSignEnded
		}
		switch s.State {
		case fsm.SignStateCompleted:
			return s.Signature, nil
		case fsm.SignStateFailed:
			return nil, errAuditSignEnded
		}
		select {
		case <-wake:
			wake = n.waiters.watch(signWaitKey(id))
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
