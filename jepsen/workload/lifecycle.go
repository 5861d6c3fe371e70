package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/keyquorum/keyquorum/jepsen/client"
	"github.com/keyquorum/keyquorum/jepsen/model"
)

// lifecycleMix is the lifecycle workload: the sign workload's creates,
// reads and signatures, with lifecycle requests on Ed25519 keys. Requests
// aim at versions the last view of the key allows, so that most take
// effect; revocations and retirements leave the primary alone except on
// throwaway keys, so the run keeps signing.
func lifecycleMix() []weighted {
	return []weighted{
		{20, (*Workload).signNew},
		{2, (*Workload).signNewECDSA},
		{4, (*Workload).signVersion},
		{8, (*Workload).signRetry},
		{1, (*Workload).signConflict},
		{3, (*Workload).create},
		{2, (*Workload).createThrowaway},
		{1, (*Workload).createTaken},
		{14, (*Workload).get},
		{3, (*Workload).list},
		{7, (*Workload).rotate},
		{5, (*Workload).promote},
		{3, (*Workload).rollback},
		{3, (*Workload).retire},
		{5, (*Workload).revoke},
		{5, (*Workload).changeRetry},
		{1, (*Workload).changeConflict},
	}
}

// changeTimeout bounds a lifecycle change other than a rotation: one log
// entry. A rotation waits for key generation, as a create does.
const changeTimeout = signTimeout

func (w *Workload) createThrowaway(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	w.createKey(ctx, c, node, keyRef{name: w.reg.newKeyName(fmt.Sprintf("t%d-", id)), algorithm: Ed25519,
		requestID: fmt.Sprintf("c-%d-%d", id, rnd.Uint32()), throwaway: true})
}

// signVersion signs with a version named explicitly: a staged or active
// version other than the primary.
func (w *Workload) signVersion(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	k, v, ok := w.target(ctx, c, rnd, node)
	if !ok {
		return
	}
	n := choose(rnd, versions(v, func(vv model.VersionView) bool {
		return vv.Number != v.Primary && (vv.State == model.Staged || vv.State == model.Active)
	}))
	if n == 0 {
		return
	}
	s := signRef{key: k.name, requestID: fmt.Sprintf("s-%d-%d", id, rnd.Uint32()), digest: digest(rnd), version: n}
	w.reg.addRequest(s)
	w.signRef(ctx, c, node, s, Ed25519)
}

func (w *Workload) rotate(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	k, ok := w.reg.changeable(rnd)
	if !ok {
		return
	}
	w.change(ctx, c, id, rnd, node, changeRef{kind: model.Rotate, key: k.name})
}

// promote promotes the newest staged version, named or (one time in four)
// as the default.
func (w *Workload) promote(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	k, v, ok := w.target(ctx, c, rnd, node)
	if !ok {
		return
	}
	staged := versions(v, func(vv model.VersionView) bool { return vv.State == model.Staged })
	if len(staged) == 0 {
		return
	}
	n := staged[len(staged)-1]
	if rnd.IntN(4) == 0 {
		n = 0
	}
	w.change(ctx, c, id, rnd, node, changeRef{kind: model.Promote, key: k.name, version: n})
}

// rollback goes back to an active version below the primary, named or
// (one time in three) as the default.
func (w *Workload) rollback(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	k, _, n, ok := w.targetVersion(ctx, c, rnd, node, func(_ keyRef, v model.KeyView, vv model.VersionView) bool {
		return vv.Number < v.Primary && vv.State == model.Active
	})
	if !ok {
		return
	}
	if rnd.IntN(3) == 0 {
		n = 0
	}
	w.change(ctx, c, id, rnd, node, changeRef{kind: model.Rollback, key: k.name, version: n})
}

// retire retires a staged or active version other than the primary; on a
// throwaway key the primary too, sometimes as the default.
func (w *Workload) retire(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	k, v, n, ok := w.targetVersion(ctx, c, rnd, node, func(k keyRef, v model.KeyView, vv model.VersionView) bool {
		return (k.throwaway || vv.Number != v.Primary) && (vv.State == model.Staged || vv.State == model.Active)
	})
	if !ok {
		return
	}
	if n == v.Primary && rnd.IntN(2) == 0 {
		n = 0
	}
	w.change(ctx, c, id, rnd, node, changeRef{kind: model.Retire, key: k.name, version: n})
}

// revoke revokes a staged, active or retired version other than the
// primary; on a throwaway key the primary too, sometimes as the default.
// Once acknowledged, the revoked version must not sign again: see
// checkRevoked.
func (w *Workload) revoke(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	k, v, n, ok := w.targetVersion(ctx, c, rnd, node, func(k keyRef, v model.KeyView, vv model.VersionView) bool {
		return (k.throwaway || vv.Number != v.Primary) &&
			(vv.State == model.Staged || vv.State == model.Active || vv.State == model.Retired)
	})
	if !ok {
		return
	}
	if n == v.Primary && rnd.IntN(2) == 0 {
		n = 0
	}
	out := w.change(ctx, c, id, rnd, node, changeRef{kind: model.Revoke, key: k.name, version: n})
	if out.Status == model.OK {
		if n == 0 {
			n = out.Key.Primary // the default revokes the primary, which stays primary
		}
		w.checkRevoked(ctx, k.name, n, n == out.Key.Primary, rnd.Uint64())
	}
}

// checkRevoked is what callers told of a revocation do at once: other
// clients, one per node, together, ask for a signature by the revoked
// version (and by the primary, if it was the primary), then read the key.
// A cluster that acknowledged the revocation before ordering it lets one
// of them through. The requests are not retried later: they are expected
// to fail.
func (w *Workload) checkRevoked(ctx context.Context, key string, n uint32, primary bool, seed uint64) {
	var wg sync.WaitGroup
	for i, node := range w.nodes() {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(seed, uint64(i)))
			c := w.newClient()
			sign := func(version uint32) {
				sctx, cancel := context.WithTimeout(ctx, signTimeout)
				defer cancel()
				c.SignVersion(sctx, node, key, version, digest(rnd), fmt.Sprintf("r-%d-%d", c.ID(), rnd.Uint32()))
			}
			sign(n)
			if primary {
				sign(0)
			}
			rctx, cancel := context.WithTimeout(ctx, readTimeout)
			defer cancel()
			w.reg.note(c.Get(rctx, node, key).Key)
		})
	}
	wg.Wait()
}

// changeRetry repeats an earlier lifecycle request with its id and input:
// the cluster must not apply it twice.
func (w *Workload) changeRetry(ctx context.Context, c *client.Client, _ int, rnd *rand.Rand, node string) {
	ref, ok := w.reg.anyChange(rnd)
	if !ok {
		return
	}
	w.send(ctx, c, node, ref, 1)
}

// changeConflict reuses an earlier lifecycle request id with another
// version, one the key does not have: once the first request took effect
// the cluster must refuse it as a reused id, before that as a bad version.
func (w *Workload) changeConflict(ctx context.Context, c *client.Client, _ int, rnd *rand.Rand, node string) {
	ref, ok := w.reg.anyChange(rnd)
	if !ok {
		return
	}
	ref.version += 100
	w.send(ctx, c, node, ref, 1)
}

// target picks a key for a lifecycle request with its last view, reading
// the key when no view is known yet; ok is false without either.
func (w *Workload) target(ctx context.Context, c *client.Client, rnd *rand.Rand, node string) (keyRef, model.KeyView, bool) {
	k, ok := w.reg.changeable(rnd)
	if !ok {
		return keyRef{}, model.KeyView{}, false
	}
	if v, seen := w.reg.view(k.name); seen {
		return k, v, true
	}
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	out := c.Get(rctx, node, k.name)
	w.reg.note(out.Key)
	return k, out.Key, out.Status == model.OK
}

// change sends a new lifecycle request under a fresh request id.
func (w *Workload) change(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string, ref changeRef) model.Output {
	ref.requestID = fmt.Sprintf("l-%d-%d", id, rnd.Uint32())
	w.reg.addChange(ref)
	return w.send(ctx, c, node, ref, 2)
}

// send sends a lifecycle request, repeating an unknown outcome under the
// same request id up to attempts times in all.
func (w *Workload) send(ctx context.Context, c *client.Client, node string, ref changeRef, attempts int) model.Output {
	timeout := changeTimeout
	if ref.kind == model.Rotate {
		timeout = createTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out model.Output
	for range attempts {
		out = c.Change(ctx, node, ref.kind, ref.key, ref.version, ref.requestID)
		w.reg.note(out.Key)
		if out.Status != model.Unknown || ctx.Err() != nil {
			break
		}
	}
	return out
}

// versions returns the numbers of v's versions that match, oldest first.
// targetVersion picks a key as target does and, at random, one of its
// versions that fits; false when there is no key or no version fits.
func (w *Workload) targetVersion(ctx context.Context, c *client.Client, rnd *rand.Rand, node string,
	fits func(k keyRef, v model.KeyView, vv model.VersionView) bool) (keyRef, model.KeyView, uint32, bool) {
	k, v, ok := w.target(ctx, c, rnd, node)
	if !ok {
		return keyRef{}, model.KeyView{}, 0, false
	}
	n := choose(rnd, versions(v, func(vv model.VersionView) bool { return fits(k, v, vv) }))
	return k, v, n, n != 0
}

func versions(v model.KeyView, match func(model.VersionView) bool) []uint32 {
	var out []uint32
	for _, vv := range v.Versions {
		if match(vv) {
			out = append(out, vv.Number)
		}
	}
	return out
}

// choose returns one of ns, or 0 when there is none.
func choose(rnd *rand.Rand, ns []uint32) uint32 {
	if len(ns) == 0 {
		return 0
	}
	return ns[rnd.IntN(len(ns))]
}
