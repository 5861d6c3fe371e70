//go:build kqd_bugs

package peer

import (
	"crypto/rand"
	"maps"
	"slices"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/tss"
)

// The flood-messages bug's rate: floodBurst junk messages of floodPayload
// random bytes to each peer every floodEvery, while the peer's queue is
// at most a quarter full (the member's real messages still go out).
const (
	floodEvery   = 10 * time.Millisecond
	floodBurst   = 8
	floodPayload = 4 << 10
)

// flood writes junk round messages, each for a fresh random session that
// never starts, to every peer until the links close (kqd_bugs builds
// only). Receivers hold them as messages for sessions not started yet,
// within this sender's share of the pending buffer, and drop the rest.
func (l *Links) flood() {
	payload := make([]byte, floodPayload)
	_, _ = rand.Read(payload)
	t := time.NewTicker(floodEvery)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		l.peersMu.RLock()
		peers := slices.Collect(maps.Values(l.peers))
		l.peersMu.RUnlock()
		protocol := l.protocol()
		for _, p := range peers {
			for range floodBurst {
				if len(p.queue) > cap(p.queue)/4 {
					break
				}
				var sid tss.SessionID
				_, _ = rand.Read(sid[:])
				select {
				case p.queue <- &kqpb.RoundMessage{SessionId: sid[:], To: []string{p.id}, Broadcast: false, Payload: payload, Protocol: protocol}:
				default:
				}
			}
		}
	}
}
