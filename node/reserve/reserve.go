// Package reserve keeps concurrent proposals on the leader from naming the
// same thing (a presignature, a FROST commitment, a key being refilled)
// while the entry that uses it is in flight; the state machine would
// refuse the second anyway.
package reserve

import "sync"

// Set holds the names reserved now. The zero Set is empty and ready.
type Set struct {
	mu sync.Mutex
	m  map[string]bool
}

// Reserve reserves id, or reports false when it is reserved already.
func (r *Set) Reserve(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]bool{}
	}
	if r.m[id] {
		return false
	}
	r.m[id] = true
	return true
}

// Release gives id up.
func (r *Set) Release(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, id)
}

// Held reports whether id is reserved.
func (r *Set) Held(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id]
}
