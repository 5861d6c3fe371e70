// Package sessions keeps the signing sessions running on a member, by key
// version, so that a revocation stops them at once. The state machine
// already refuses their results; stopping them frees the CPU and tells the
// peers to stop too (their round messages stop).
package sessions

import (
	"context"
	"strconv"
	"sync"
)

// Running is the set of a member's running signing sessions. The zero
// value is empty and ready to use.
type Running struct {
	mu   sync.Mutex
	next int
	m    map[string]map[int]context.CancelFunc // "key/version" -> sessions
}

func versionKey(key string, version uint32) string {
	return key + "/" + strconv.FormatUint(uint64(version), 10)
}

// Add registers a session's cancel and returns its removal.
func (r *Running) Add(key string, version uint32, cancel context.CancelFunc) func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]map[int]context.CancelFunc{}
	}
	vk := versionKey(key, version)
	if r.m[vk] == nil {
		r.m[vk] = map[int]context.CancelFunc{}
	}
	r.next++
	id := r.next
	r.m[vk][id] = cancel
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.m[vk], id)
		if len(r.m[vk]) == 0 {
			delete(r.m, vk)
		}
	}
}

// Cancel aborts every session of the key version and returns how many
// there were.
func (r *Running) Cancel(key string, version uint32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	vk := versionKey(key, version)
	for _, c := range r.m[vk] {
		c()
	}
	n := len(r.m[vk])
	delete(r.m, vk)
	return n
}
