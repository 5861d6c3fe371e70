// Package dedup is the state machine's memory of requests it already
// acted on, so that a client's retry under the same request id returns
// the first outcome instead of acting twice. It holds the records of
// successful lifecycle requests (Table: a handle issued or revoked, a key
// changed or reshared) and the one eviction rule every such memory
// follows, the signing records included (Evict): the oldest records go
// once the table holds more than its count bound, or once they are older
// than the de-duplication age.
//
// Refused requests are not remembered: they changed nothing, and a retry
// is judged afresh. Tables are trimmed lazily, so every lookup checks the
// age too: a retry after the age is a new request whether or not its
// record was trimmed. The package is pure, as package fsm is.
package dedup

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
)

// Request is the remembered outcome of a successful lifecycle request.
type Request struct {
	ID      string   `json:"id"`
	Op      string   `json:"op"`
	Input   [32]byte `json:"input"` // hash of the fields the client chose
	Key     string   `json:"key,omitempty"`
	Version uint32   `json:"version,omitempty"`
	Handle  string   `json:"handle,omitempty"`
	Index   uint64   `json:"index"`
	Time    int64    `json:"time"`
}

// Bounds are a memory's bounds: at most Max records, none older than Age
// nanoseconds of replicated time.
type Bounds struct {
	Max int
	Age int64
}

// Expired reports whether a record made at t is past the age at now.
func (b Bounds) Expired(t, now int64) bool { return now-t >= b.Age }

// Table is the lifecycle requests' memory: the records by id, and their
// ids oldest first for eviction.
type Table struct {
	Requests     map[string]*Request `json:"requests"`
	RequestOrder []string            `json:"request_order"`
}

// Lookup returns the record of request id at now, or nil when the id is
// new (or empty, or its record past the age, which it forgets). A record
// of another op or input is a conflict: err is ErrRequestConflict.
func (t *Table) Lookup(id, op string, input [32]byte, now int64, b Bounds) (*Request, error) {
	r, ok := t.Requests[id]
	if ok && b.Expired(r.Time, now) {
		t.Forget(id) // past the de-duplication age: a new request
		ok = false
	}
	if !ok || id == "" {
		return nil, nil
	}
	if r.Op != op || r.Input != input {
		return r, fmt.Errorf("request %q: %w", id, fsmerr.ErrRequestConflict)
	}
	return r, nil
}

// Remember records a successful request made by entry index at now, and
// evicts the oldest records beyond the bounds.
func (t *Table) Remember(r *Request, index uint64, now int64, b Bounds) {
	r.Index, r.Time = index, now
	t.Requests[r.ID] = r
	t.RequestOrder = append(t.RequestOrder, r.ID)
	t.RequestOrder = Evict(t.Requests, t.RequestOrder, b.Max, func(old *Request) bool { return !b.Expired(old.Time, now) })
}

// Forget removes request id's record.
func (t *Table) Forget(id string) {
	delete(t.Requests, id)
	t.RequestOrder = Forget(t.RequestOrder, id)
}

// Check refuses a restored table with a null record.
func (t *Table) Check() error {
	for id, r := range t.Requests {
		if r == nil {
			return fmt.Errorf("request %q is null", id)
		}
	}
	return nil
}

// Evict deletes from records the oldest ids of order (oldest first) while
// more than max remain or the oldest is not fresh, and returns what is
// left of order.
func Evict[T any](records map[string]*T, order []string, max int, fresh func(*T) bool) []string {
	for len(order) > 0 {
		old := records[order[0]]
		if len(order) <= max && old != nil && fresh(old) {
			break
		}
		delete(records, order[0])
		order = order[1:]
	}
	return order
}

// Forget returns order without id.
func Forget(order []string, id string) []string {
	if i := slices.Index(order, id); i >= 0 {
		return slices.Delete(order, i, i+1)
	}
	return order
}

// HashInput hashes length-prefixed fields, so no two field lists collide:
// a request's input, what a retry must repeat.
func HashInput(fields ...string) [32]byte {
	h := sha256.New()
	for _, s := range fields {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(s))))
		h.Write([]byte(s))
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
