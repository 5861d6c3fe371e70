package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/metrics"
	"github.com/keyquorum/keyquorum/node/presign"
	"github.com/keyquorum/keyquorum/tss"
)

// presignParkWait bounds rounds 1-4 of a presignature; a committee that has
// not parked by then is stalled and its presignature is discarded.
const presignParkWait = 45 * time.Second

// runPresign parks this member's half of a presignature and reports it
// ready, or discarded when rounds 1-4 fail.
func (n *Node) runPresign(ctx context.Context, index uint64, p *fsm.Presig) {
	log := n.log.With("presig", p.ID, "key", p.Key)
	start := time.Now()
	ps, err := n.presign(ctx, index, p)
	n.metrics.Session(metrics.KindPresign, start, err)
	if err != nil {
		log.Warn("presignature failed", "err", err)
		n.report(ctx, &fsm.PresignDiscarded{ID: p.ID, Node: n.self.ID, Reason: err.Error()})
		return
	}
	n.metrics.PresignRefilled(p.Key, time.Since(start))
	n.parked.Put(p.ID, ps)
	go func() { // an expired or failed session leaves the store by itself
		<-ps.Done()
		n.parked.Take(p.ID)
	}()
	n.report(ctx, &fsm.PresignReady{ID: p.ID, Node: n.self.ID, Boot: n.boot})
}

func (n *Node) presign(ctx context.Context, index uint64, p *fsm.Presig) (*tss.Presignature, error) {
	share, err := n.shares.Get(ctx, p.Key, p.Version, p.Epoch)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, presignParkWait)
	defer cancel()
	return n.engine.Presign(ctx, tss.PresignRequest{
		Session:   tss.NewSessionID(n.cluster.ID, "presign", index, p.ID, 0),
		Share:     share,
		Committee: p.Committee,
		TTL:       time.Duration(p.Expires - p.Created),
	})
}

// signPresigned finishes a signature from this member's parked half. The
// presignature was taken from the store when the entry was dispatched, so
// a sweep can no longer discard it.
func (n *Node) signPresigned(ctx context.Context, s *fsm.Sign, ps *tss.Presignature) {
	ctx, cancel := context.WithTimeout(ctx, n.cluster.Sign.Timeout)
	defer cancel()
	start := time.Now()
	sig, err := ps.Sign(ctx, s.Digest)
	n.metrics.Session(metrics.KindPresignedSig, start, err)
	if err != nil {
		n.log.Warn("presigned attempt failed", "request", s.RequestID, "presig", s.Presig, "err", err)
		n.blameAbort(ctx, s, err)
		return
	}
	n.reportSignature(ctx, s, sig)
}

// choosePresig returns a ready presignature of the key whose committee the
// leader can reach and whose members are all ready (notReady), reserving
// it for this request; ok is false when the pool has none and the full
// protocol must run. A member that restarted holds none of its halves any
// more, even before its NodeBooted entry discards them from the pool, and
// one replaying the log joins late: an attempt naming either waits for the
// supervisor to move it.
func (n *Node) choosePresig(k *fsm.Key) (p *fsm.Presig, release func(), ok bool) {
	if !n.presignable(k) {
		return nil, nil, false
	}
	reachable := n.raft.Reachable()
	notReady := n.notReady(k.Members)
	// Leave a margin so the entry is applied well before the expiry.
	horizon := n.fsm.Time() + int64(n.cluster.Sign.Timeout)
	for _, p := range n.fsm.Presigs(k.Name) {
		if !presign.Usable(p, k, horizon, reachable, notReady) {
			continue
		}
		if n.reserved.Reserve(p.ID) {
			return p, func() { n.reserved.Release(p.ID) }, true
		}
	}
	n.log.Debug("no usable presignature; signing with the full protocol", "key", k.Name, "pool", len(n.fsm.Presigs(k.Name)), "not_ready", notReady)
	return nil, nil, false
}

// presignable reports whether the key's requests may use the pool: ECDSA
// only (see the ROS note in docs/ARCHITECTURE.md), and only when it is on.
func (n *Node) presignable(k *fsm.Key) bool {
	return k.Algorithm == tss.ECDSASecp256k1.String() && n.cluster.Presign.Pool > 0
}

// refillPresigs runs on the leader's supervisor tick: it keeps each active
// ECDSA key's pool at presign.pool (less when its tenant's presigs quota
// is reached), starting at most one presignature per key at a time so
// refilling never takes more than a share of the CPU from live requests,
// and discards presignatures that stalled before parking.
func (s *supervisor) refillPresigs(ctx context.Context, now time.Time) {
	n := s.n
	if n.cluster.Presign.Pool == 0 {
		return
	}
	live := map[string]bool{}
	for _, k := range n.fsm.Keys() {
		if k.State() != fsm.KeyActive || k.Algorithm != tss.ECDSASecp256k1.String() {
			continue
		}
		all := n.fsm.Presigs(k.Name)
		notReady := n.notReady(k.Members)
		pool := presign.Standing(all, notReady)
		pending := presign.Refilling(pool)
		for _, p := range all {
			live[p.ID] = true
			if p.State != fsm.PresigPending {
				continue
			}
			first, seen := s.presigs[p.ID]
			if !seen {
				s.presigs[p.ID] = now
			} else if now.Sub(first) > presignParkWait+5*time.Second {
				cmd := &fsm.PresignDiscarded{ID: p.ID, Node: n.self.ID, Reason: metrics.PresignStalledReason}
				s.n.spawn(func() { n.propose(ctx, cmd) })
			}
		}
		// pool leaves out presignatures with a member that is not ready:
		// they park late or never, and until that member's restart
		// discards them or they expire they take no place of one that
		// can serve. The tenant's presigs quota, shared by its keys'
		// pools, counts them all; the entry would refuse a refill past
		// it, so none is proposed.
		if len(pool) >= n.cluster.Presign.Pool || pending > 0 || s.refilling.Held(k.Name) || !n.fsm.PresigRoom(k.Name) {
			continue
		}
		committee, err := n.coverRestart(k, pool)
		why := "cover a restart"
		if committee == nil {
			if !s.refillNow(len(pool), now) {
				continue
			}
			why = "refill"
			committee, err = n.pickCommittee(k, nil, 0)
		}
		if err != nil {
			continue
		}
		cmd := &fsm.PresignRequested{ID: newPresigID(), Key: k.Name, Committee: committee, TTL: int64(n.cluster.Presign.TTL)}
		n.log.Debug("presignature requested", "key", k.Name, "presig", cmd.ID, "committee", committee, "pool", len(pool), "why", why)
		// Until the entry is applied the pool does not show it pending;
		// the next tick must not request another one meanwhile.
		s.refilling.Reserve(k.Name)
		s.n.spawn(func() {
			defer s.refilling.Release(cmd.Key)
			n.propose(ctx, cmd)
		})
	}
	for id := range s.presigs {
		if !live[id] {
			delete(s.presigs, id)
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
func (n *Node) coverRestart(k *fsm.Key, pool []*fsm.Presig) ([]string, error) {
	for _, m := range presign.ExposedMembers(k.Members, pool) {
		if c, err := n.pickCommitteeWithout(k, nil, 0, m); err == nil {
			return c, nil
		}
	}
	return nil, nil
}

// refillQuiet is how long the leader must go without sign requests, for
// any key, before a pool refills above its low-water mark: presigning takes
// the CPU that live requests need, on every committee member.
const refillQuiet = 250 * time.Millisecond

// refillNow reports whether a key's pool should grow now: always below a
// quarter of the target, otherwise only while no requests are being served.
func (s *supervisor) refillNow(size int, now time.Time) bool {
	if size < max(1, s.n.cluster.Presign.Pool/4) {
		return true
	}
	return now.Sub(time.Unix(0, s.n.lastSign.Load())) >= refillQuiet
}

func newPresigID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "p-" + hex.EncodeToString(b[:])
}

// reportBoot records this process life in the log, retrying until it is
// committed: until then the cluster may still count on presignatures this
// node lost when it restarted.
func (n *Node) reportBoot(ctx context.Context) error {
	data, err := n.encode(&fsm.NodeBooted{Node: n.self.ID, Boot: n.boot, Protocol: fsm.MaxProtocol})
	if err != nil {
		return err
	}
	if err := n.reportOnce(ctx, data); err != nil {
		return fmt.Errorf("node: report boot: %w", err)
	}
	return nil
}

func newBootID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
