package workload

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"

	"github.com/keyquorum/keyquorum/jepsen/model"
)

// registry is what the clients share about what they asked for: key names,
// signing and lifecycle requests, to reuse in retries and reads, and the
// last view of each key, to aim lifecycle requests at versions that allow
// them. It holds requests and hints, not verdicts: the checker, not the
// workload, judges outcomes.
type registry struct {
	mu       sync.Mutex
	keys     []keyRef // in the order they were first asked for
	requests []signRef
	changes  []changeRef
	views    map[string]model.KeyView // the last view of each key any client got
	nextKey  int
}

type keyRef struct {
	name, algorithm, requestID string
	acked                      bool // a create returned OK
	// throwaway keys may lose their primary to a retirement or revocation;
	// the others keep signing.
	throwaway bool
}

type signRef struct {
	key, requestID string
	digest         []byte
	version        uint32 // 0: the primary
	acked          bool   // some answer carried a signature
}

type changeRef struct {
	kind      model.Kind
	key       string
	version   uint32
	requestID string
}

func (r *registry) addKey(k keyRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, k)
}

func (r *registry) ackKey(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.keys {
		if r.keys[i].name == name {
			r.keys[i].acked = true
		}
	}
}

func (r *registry) newKeyName(prefix string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextKey++
	return prefix + strconv.Itoa(r.nextKey)
}

// signable picks an acknowledged key of the algorithm whose primary, as
// last seen, can sign, preferring recent ones; ok is false when there is
// none.
func (r *registry) signable(rnd *rand.Rand, algorithm string) (keyRef, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pick(rnd, func(k keyRef) bool {
		v, seen := r.views[k.name]
		return k.acked && k.algorithm == algorithm && (!seen || v.State == model.Active)
	})
}

// lasting picks an acknowledged Ed25519 key that is not a throwaway and
// whose primary, as last seen, can sign: the expiry clients' signs should
// fail, if at all, for their handle's sake.
func (r *registry) lasting(rnd *rand.Rand) (keyRef, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pick(rnd, func(k keyRef) bool {
		v, seen := r.views[k.name]
		return k.acked && !k.throwaway && k.algorithm == Ed25519 && (!seen || v.State == model.Active)
	})
}

// changeable picks an acknowledged Ed25519 key for a lifecycle request
// (ECDSA key generation takes too long to rotate often).
func (r *registry) changeable(rnd *rand.Rand) (keyRef, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pick(rnd, func(k keyRef) bool { return k.acked && k.algorithm == Ed25519 })
}

func (r *registry) pick(rnd *rand.Rand, match func(keyRef) bool) (keyRef, bool) {
	var c []keyRef
	for _, k := range r.keys {
		if match(k) {
			c = append(c, k)
		}
	}
	return pickRecent(rnd, c)
}

// anyKey picks any key asked for, the most recent ones most often: a read
// soon after a create is what catches a stale replica.
func (r *registry) anyKey(rnd *rand.Rand) (keyRef, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return pickRecent(rnd, r.keys)
}

func (r *registry) allKeys() []keyRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]keyRef(nil), r.keys...)
}

func (r *registry) addRequest(s signRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests = append(r.requests, s)
}

// ackRequest notes that a request got a signature for its digest.
func (r *registry) ackRequest(requestID string, digest []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.requests {
		if r.requests[i].requestID == requestID && slices.Equal(r.requests[i].digest, digest) {
			r.requests[i].acked = true
		}
	}
}

func (r *registry) anyRequest(rnd *rand.Rand) (signRef, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return pickRecent(rnd, r.requests)
}

func (r *registry) allRequests() []signRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]signRef(nil), r.requests...)
}

func (r *registry) addChange(c changeRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, c)
}

func (r *registry) anyChange(rnd *rand.Rand) (changeRef, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return pickRecent(rnd, r.changes)
}

// note keeps v as the last view of its key.
func (r *registry) note(v model.KeyView) {
	if v.Name == "" || len(v.Versions) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.views == nil {
		r.views = map[string]model.KeyView{}
	}
	r.views[v.Name] = v
}

// view returns the last view of a key; ok is false before any.
func (r *registry) view(name string) (model.KeyView, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.views[name]
	return v, ok
}

// pickRecent is recent for a slice that may be empty; ok is false when it
// is.
func pickRecent[T any](rnd *rand.Rand, s []T) (v T, ok bool) {
	if len(s) == 0 {
		return v, false
	}
	return recent(rnd, s), true
}

// recent returns one of the last three elements half of the time, else any.
func recent[T any](rnd *rand.Rand, s []T) T {
	if rnd.IntN(2) == 0 {
		return s[max(0, len(s)-1-rnd.IntN(3))]
	}
	return s[rnd.IntN(len(s))]
}
