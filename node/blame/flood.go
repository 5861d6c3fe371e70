package blame

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	fsmblame "github.com/keyquorum/keyquorum/consensus/fsm/blame"
)

// Flooding is blamed, not only counted. A member whose round messages for
// sessions not started yet overflow its share of this node's pending
// buffer has them dropped (tss.Engine.PendingDropped); once it has lost
// floodBlameDrops of them within one floodWatchEvery, this node accuses it
// of flooding (fsmblame.Flood), at most once per floodBlameGap. One
// accuser proves nothing (it may be the liar); threshold+1 of a key
// exclude the flooder from that key's committees, the rule every
// accusation follows (consensus/fsm/blame.go).
const (
	floodWatchEvery = 5 * time.Second
	// floodBlameDrops is far above what an honest member loses: its
	// messages overflow only while this node lags its sessions, and a
	// session has a few messages per peer.
	floodBlameDrops = 1000
	floodBlameGap   = time.Minute
)

// floodWatch remembers, per sender, the drop count last seen and when
// this node last accused it.
type floodWatch struct {
	seen    map[string]uint64
	accused map[string]time.Time
}

func newFloodWatch() *floodWatch {
	return &floodWatch{seen: map[string]uint64{}, accused: map[string]time.Time{}}
}

// flooders returns the senders that lost at least floodBlameDrops messages
// since the last look and were not accused within floodBlameGap, with how
// many they lost, and remembers the counts.
func (w *floodWatch) flooders(dropped map[string]uint64, now time.Time) map[string]uint64 {
	out := map[string]uint64{}
	for peer, n := range dropped {
		d := n - w.seen[peer]
		w.seen[peer] = n
		if d < floodBlameDrops || now.Sub(w.accused[peer]) < floodBlameGap {
			continue
		}
		w.accused[peer] = now
		out[peer] = d
	}
	return out
}

// WatchFloods accuses flooding members until ctx ends.
func (w *Work) WatchFloods(ctx context.Context) {
	watch := newFloodWatch()
	tick := time.NewTicker(floodWatchEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		w.accuseFlooders(ctx, watch)
	}
}

func (w *Work) accuseFlooders(ctx context.Context, watch *floodWatch) {
	now := time.Now()
	for peer, lost := range watch.flooders(w.m.PendingDropped(), now) {
		if peer == w.self || !w.m.IsMember(peer) {
			continue
		}
		note := fmt.Sprintf("%s dropped %d round messages from %s over its share in %s before %s",
			w.self, lost, peer, floodWatchEvery, now.UTC().Format(time.RFC3339))
		ev := sha256.Sum256([]byte(note))
		cmd := &fsm.AttemptBlamed{Culprit: peer, Accuser: w.self, Check: fsmblame.Flood,
			EvidenceSHA256: hex.EncodeToString(ev[:])}
		if w.state.Protocol() < fsm.Since(cmd) {
			continue
		}
		w.log.Warn("blaming a member for flooding round messages", "culprit", peer, "dropped", lost, "within", floodWatchEvery)
		w.m.Go(func() { w.m.Report(ctx, cmd) })
	}
}
