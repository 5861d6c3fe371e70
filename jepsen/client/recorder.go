// Package client is the harness's recording gRPC client. Each Client has at
// most one request in flight and records every call as a porcupine
// operation on a time base shared by all clients of one Recorder. A call
// whose outcome the client cannot know (deadline, lost connection,
// leadership lost, anything not definite) is recorded with Return =
// math.MaxInt64, and the client continues under a new client id, since
// from the checker's point of view the old one may still be in flight.
//
// Sign needs a capability handle: the clients of a run share one handle
// per key (Handles), issued by whichever client first signs with the key,
// and the issue is recorded like any other operation. Clients may also
// issue handles of their own (Issue) and sign with them (SignWith); every
// issue and sign records the handle's id and life, for the expiry check.
package client

import (
	"slices"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// Recorder holds one history. It is safe for concurrent use.
type Recorder struct {
	base time.Time // carries Go's monotonic reading: wall-clock jumps do not move it

	mu     sync.Mutex
	ops    []porcupine.Operation
	nextID int
}

// NewRecorder starts a history whose time 0 is now.
func NewRecorder() *Recorder { return &Recorder{base: time.Now()} }

// Now is the history time: nanoseconds since the recorder started, on the
// monotonic clock.
func (r *Recorder) Now() int64 { return int64(time.Since(r.base)) }

// Base is the wall time of history time 0, for reports.
func (r *Recorder) Base() time.Time { return r.base }

// History returns a copy of the operations recorded so far, in the order
// they returned (unknown outcomes in the order they were given up on).
func (r *Recorder) History() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops)
}

// Clients is the number of client ids handed out so far.
func (r *Recorder) Clients() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nextID
}

func (r *Recorder) newClientID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	return r.nextID - 1
}

func (r *Recorder) add(op porcupine.Operation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, op)
}
