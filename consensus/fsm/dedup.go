package fsm

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
)

// Request is the remembered outcome of a successful lifecycle request (a
// handle issued or revoked, a key changed), so that a retry under the same
// id returns it instead of acting twice. Refused requests are not
// remembered: they changed nothing, and a retry is judged afresh.
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

// dedup looks a request id up. done is true when the id was seen: res is
// then the outcome to return, a duplicate or ErrRequestConflict.
func (f *FSM) dedup(id, op string, input [32]byte) (*Request, Result, bool) {
	r, ok := f.st.Requests[id]
	if ok && f.expired(r.Time) {
		f.forgetRequest(id) // past the de-duplication age: a new request
		ok = false
	}
	if !ok || id == "" {
		return nil, Result{}, false
	}
	if r.Op != op || r.Input != input {
		return r, Result{Err: fmt.Errorf("request %q: %w", id, ErrRequestConflict)}, true
	}
	res := Result{Duplicate: true, Version: r.Version}
	if k := f.st.Keys[r.Key]; k != nil {
		res.Key = k.Clone()
	}
	return r, res, true
}

// remember records a successful request and evicts the oldest records
// beyond the table's size and age bounds.
func (f *FSM) remember(index uint64, r *Request) {
	r.Index, r.Time = index, f.st.Time
	f.st.Requests[r.ID] = r
	f.st.RequestOrder = append(f.st.RequestOrder, r.ID)
	for len(f.st.RequestOrder) > 0 {
		old := f.st.Requests[f.st.RequestOrder[0]]
		if len(f.st.RequestOrder) <= f.cfg.MaxRequestRecords && old != nil && !f.expired(old.Time) {
			break
		}
		delete(f.st.Requests, f.st.RequestOrder[0])
		f.st.RequestOrder = f.st.RequestOrder[1:]
	}
}

// expired reports whether a record made at t is past the de-duplication
// age. Tables are trimmed lazily, so every lookup checks it too: a retry
// after the age is a new request whether or not the record was trimmed.
func (f *FSM) expired(t int64) bool { return f.st.Time-t >= f.limits().RequestRecordAge }

func (f *FSM) forgetRequest(id string) {
	delete(f.st.Requests, id)
	if i := slices.Index(f.st.RequestOrder, id); i >= 0 {
		f.st.RequestOrder = slices.Delete(f.st.RequestOrder, i, i+1)
	}
}

// hashInput hashes length-prefixed fields, so no two field lists collide.
func hashInput(fields ...string) [32]byte {
	h := sha256.New()
	for _, s := range fields {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(s))))
		h.Write([]byte(s))
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
