package presign

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/metrics"
	"github.com/keyquorum/keyquorum/tss"
)

// The leader's side of the pool: which presignature a sign request names,
// and keeping every key's pool full.

// refillQuiet is how long the leader must go without sign requests, for
// any key, before a pool refills above its low-water mark: presigning takes
// the CPU that live requests need, on every committee member.
const refillQuiet = 250 * time.Millisecond

// Pooled reports whether the key's requests may use the pool: ECDSA only
// (see the ROS note in docs/ARCHITECTURE.md), and only when it is on.
func (w *Work) Pooled(k *fsm.Key) bool {
	return k.Algorithm == tss.ECDSASecp256k1.String() && w.cfg.Cluster.Presign.Pool > 0
}

// SignAsked notes that this leader serves a sign request now: the pools
// refill above their low-water mark only when none came for a while.
func (w *Work) SignAsked() { w.lastSign.Store(time.Now().UnixNano()) }

// Choose returns a ready presignature of the key whose committee the
// leader can reach and whose members are all ready, reserving it for this
// request; ok is false when the pool has none and the full protocol must
// run. A member that restarted holds none of its halves any more, even
// before its NodeBooted entry discards them from the pool, and one
// replaying the log joins late: an attempt naming either waits for the
// supervisor to move it.
func (w *Work) Choose(k *fsm.Key) (p *fsm.Presig, release func(), ok bool) {
	if !w.Pooled(k) {
		return nil, nil, false
	}
	reachable := w.m.Reachable()
	notReady := w.m.NotReady(k.Members)
	// Leave a margin so the entry is applied well before the expiry.
	horizon := w.state.Time() + int64(w.cfg.Cluster.Sign.Timeout)
	for _, p := range w.state.Presigs(k.Name) {
		if !Usable(p, k, horizon, reachable, notReady) {
			continue
		}
		if w.reserved.Reserve(p.ID) {
			return p, func() { w.reserved.Release(p.ID) }, true
		}
	}
	w.log.Debug("no usable presignature; signing with the full protocol", "key", k.Name, "pool", len(w.state.Presigs(k.Name)), "not_ready", notReady)
	return nil, nil, false
}

// Forget drops what the refill remembers, when this member stops leading.
// Called on the supervisor's goroutine.
func (w *Work) Forget() { clear(w.pending) }

// Refill runs on the leader's supervisor tick: it keeps each active ECDSA
// key's pool at presign.pool (less when its tenant's presigs quota is
// reached), starting at most one presignature per key at a time so
// refilling never takes more than a share of the CPU from live requests,
// and discards presignatures that stalled before parking.
func (w *Work) Refill(ctx context.Context, now time.Time) {
	target := w.cfg.Cluster.Presign.Pool
	if target == 0 {
		return
	}
	live := map[string]bool{}
	for _, k := range w.state.Keys() {
		if k.State() != fsm.KeyActive || k.Algorithm != tss.ECDSASecp256k1.String() {
			continue
		}
		all := w.state.Presigs(k.Name)
		notReady := w.m.NotReady(k.Members)
		pool := Standing(all, notReady)
		pending := Refilling(pool)
		for _, p := range all {
			live[p.ID] = true
			if p.State != fsm.PresigPending {
				continue
			}
			first, seen := w.pending[p.ID]
			if !seen {
				w.pending[p.ID] = now
			} else if now.Sub(first) > parkWait+5*time.Second {
				cmd := &fsm.PresignDiscarded{ID: p.ID, Node: w.cfg.Self, Reason: metrics.PresignStalledReason}
				w.m.Go(func() { w.m.Propose(ctx, cmd) })
			}
		}
		// pool leaves out presignatures with a member that is not ready:
		// they park late or never, and until that member's restart
		// discards them or they expire they take no place of one that
		// can serve. The tenant's presigs quota, shared by its keys'
		// pools, counts them all; the entry would refuse a refill past
		// it, so none is proposed.
		if len(pool) >= target || pending > 0 || w.refilling.Held(k.Name) || !w.state.PresigRoom(k.Name) {
			continue
		}
		committee, err := w.coverRestart(k, pool)
		why := "cover a restart"
		if committee == nil {
			if !w.refillNow(len(pool), now) {
				continue
			}
			why = "refill"
			committee, err = w.m.PickCommittee(k, "")
		}
		if err != nil {
			continue
		}
		cmd := &fsm.PresignRequested{ID: newID(), Key: k.Name, Committee: committee, TTL: int64(w.cfg.Cluster.Presign.TTL)}
		w.log.Debug("presignature requested", "key", k.Name, "presig", cmd.ID, "committee", committee, "pool", len(pool), "why", why)
		// Until the entry is applied the pool does not show it pending;
		// the next tick must not request another one meanwhile.
		w.refilling.Reserve(k.Name)
		w.m.Go(func() {
			defer w.refilling.Release(cmd.Key)
			w.m.Propose(ctx, cmd)
		})
	}
	for id := range w.pending {
		if !live[id] {
			delete(w.pending, id)
		}
	}
}

// coverRestart returns a committee for a refill that the pool needs now,
// whatever the load: one without a member whose restart would leave the
// pool empty, because every presignature in it (ready or pending) has that
// member in its committee. A restart discards every presignature of the
// member's committees (NodeBooted), and a sign with an empty pool runs the
// full protocol, seconds on a loaded host; with three members, a pool
// that holds one presignature of each committee keeps one through any
// single restart. nil when no member is exposed, or no committee without
// an exposed one can be picked now.
func (w *Work) coverRestart(k *fsm.Key, pool []*fsm.Presig) ([]string, error) {
	for _, m := range ExposedMembers(k.Members, pool) {
		if c, err := w.m.PickCommittee(k, m); err == nil {
			return c, nil
		}
	}
	return nil, nil
}

// refillNow reports whether a key's pool should grow now: always below a
// quarter of the target, otherwise only while no requests are being served.
func (w *Work) refillNow(size int, now time.Time) bool {
	if size < max(1, w.cfg.Cluster.Presign.Pool/4) {
		return true
	}
	return now.Sub(time.Unix(0, w.lastSign.Load())) >= refillQuiet
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "p-" + hex.EncodeToString(b[:])
}
