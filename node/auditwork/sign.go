package auditwork

import (
	"context"
	"fmt"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/service"
)

// errSignEnded is returned when an audit signature failed or its record
// was evicted before this member saw it complete.
var errSignEnded = fmt.Errorf("node: audit key %w", service.ErrSignEnded)

// Sign has the audit key k sign msg through the ordinary signing path, as
// this member, under request id id (which starts with
// fsm.AuditRequestPrefix), and waits for the signature. A request already
// made under id is awaited, not repeated. Its error wraps
// service.ErrSignEnded when the signature failed or was evicted.
func (w *Work) Sign(ctx context.Context, k *fsm.Key, id string, msg []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(w.cfg.Cluster.Sign.MaxAttempts+1)*w.cfg.Cluster.Sign.Timeout)
	defer cancel()
	wake := w.m.WatchSign(id)
	if _, seen := w.st.Sign(id); !seen {
		// The ordinary path: FROST commitments when the audit key's pool
		// has them, so an audit signature costs what any Ed25519
		// signature does, else tss-lib's rounds.
		if _, _, err := w.m.ProposeSign(ctx, k, true, &fsm.SignRequested{RequestID: id, Key: k.Name,
			Digest: msg, Actor: fsm.NodeActor(w.cfg.ID)}); err != nil {
			return nil, err
		}
	}
	for {
		s, ok := w.st.Sign(id)
		if !ok {
			return nil, errSignEnded
		}
		switch s.State {
		case fsm.SignStateCompleted:
			return s.Signature, nil
		case fsm.SignStateFailed:
			return nil, errSignEnded
		}
		select {
		case <-wake:
			wake = w.m.WatchSign(id)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
