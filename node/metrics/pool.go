package metrics

import (
	"sync"

	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// presigTracker follows the replicated pool entry by entry to tell why a
// presignature left it: the FSM deletes used, discarded, expired and
// restarted presignatures alike, and only the entry that deleted one says
// which it was. It holds what the pool holds, plus (after the node installs
// a snapshot) presignatures the snapshot dropped, until their expiry.
type presigTracker struct {
	fsm State

	mu sync.Mutex
	m  map[string]trackedPresig
}

type trackedPresig struct {
	key     string
	expires int64
}

type discard struct{ key, reason string }

func (t *presigTracker) applied(cmd fsm.Command, res fsm.Result) []discard {
	if t.fsm == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []discard
	switch c := cmd.(type) {
	case *fsm.PresignRequested:
		out = t.sweep(out, "") // applying it expired old ones
		if res.Err == nil && res.Presig != nil {
			t.m[c.ID] = trackedPresig{key: c.Key, expires: res.Presig.Expires}
		}
	case *fsm.SignRequested:
		if p, ok := t.m[c.Presig]; ok && c.Presig != "" && !t.fsm.HasPresig(c.Presig) {
			delete(t.m, c.Presig)
			if res.Err != nil { // deleted without being used: it had expired
				out = append(out, discard{p.key, discardExpired})
			}
		}
	case *fsm.PresignDiscarded:
		if p, ok := t.m[c.ID]; ok && res.Err == nil {
			delete(t.m, c.ID)
			reason := discardFailed
			if c.Reason == PresignStalledReason {
				reason = discardStalled
			}
			out = append(out, discard{p.key, reason})
		}
	case *fsm.NodeBooted:
		out = t.sweep(out, discardRestart)
	}
	return out
}

// sweep forgets tracked presignatures the FSM no longer holds. With
// reason empty it is the expiry sweep: only presignatures past their expiry
// are looked up, so the apply loop pays a map walk, not a lookup per
// presignature. A presignature that vanished before its expiry without an
// entry saying why (the node installed a snapshot) is counted as expired
// once its expiry passes.
func (t *presigTracker) sweep(out []discard, reason string) []discard {
	now := int64(0)
	if reason == "" {
		now = t.fsm.Time()
	}
	for id, p := range t.m {
		if reason == "" && now < p.expires || t.fsm.HasPresig(id) {
			continue
		}
		delete(t.m, id)
		r := reason
		if r == "" {
			r = discardExpired
		}
		out = append(out, discard{p.key, r})
	}
	return out
}
