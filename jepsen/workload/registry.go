package workload

import (
	"math/rand/v2"
	"strconv"
	"sync"
)

// registry is what the clients share about what they asked for: key names
// and signing requests, to reuse in retries and reads. It holds requests,
// not outcomes: the checker, not the workload, judges outcomes.
type registry struct {
	mu       sync.Mutex
	keys     []keyRef // in the order they were first asked for
	requests []signRef
	nextKey  int
}

type keyRef struct {
	name, algorithm, requestID string
	acked                      bool // a create returned OK
}

type signRef struct {
	key, requestID string
	digest         []byte
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

// signable picks an acknowledged key of the algorithm, preferring recent
// ones; ok is false when there is none.
func (r *registry) signable(rnd *rand.Rand, algorithm string) (keyRef, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var c []keyRef
	for _, k := range r.keys {
		if k.acked && k.algorithm == algorithm {
			c = append(c, k)
		}
	}
	if len(c) == 0 {
		return keyRef{}, false
	}
	return recent(rnd, c), true
}

// anyKey picks any key asked for, the most recent ones most often: a read
// soon after a create is what catches a stale replica.
func (r *registry) anyKey(rnd *rand.Rand) (keyRef, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys) == 0 {
		return keyRef{}, false
	}
	return recent(rnd, r.keys), true
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

func (r *registry) anyRequest(rnd *rand.Rand) (signRef, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.requests) == 0 {
		return signRef{}, false
	}
	return recent(rnd, r.requests), true
}

func (r *registry) allRequests() []signRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]signRef(nil), r.requests...)
}

// recent returns one of the last three elements half of the time, else any.
func recent[T any](rnd *rand.Rand, s []T) T {
	if rnd.IntN(2) == 0 {
		return s[max(0, len(s)-1-rnd.IntN(3))]
	}
	return s[rnd.IntN(len(s))]
}
