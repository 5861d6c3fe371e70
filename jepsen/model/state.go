package model

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// State is the model's view of the cluster: keys and signing requests.
// Step functions never mutate a State; they return a changed copy.
type State struct {
	Keys     map[string]Key     // by name
	Requests map[string]Request // signing requests by request id
}

// Key is what the model knows of one key.
type Key struct {
	CreateID  string   // request id of the create that made it
	State     KeyState // the furthest state any operation has shown
	PublicKey string   // hex; empty until an operation has shown it
}

// Request is one signing request id.
type Request struct {
	Key       string
	Digest    string
	Signature string // hex; empty until an operation has returned it
}

func initState() State {
	return State{Keys: map[string]Key{}, Requests: map[string]Request{}}
}

func (s State) withKey(name string, k Key) State {
	keys := maps.Clone(s.Keys)
	keys[name] = k
	return State{Keys: keys, Requests: s.Requests}
}

func (s State) withRequest(id string, r Request) State {
	reqs := maps.Clone(s.Requests)
	reqs[id] = r
	return State{Keys: s.Keys, Requests: reqs}
}

func (s State) equal(o State) bool {
	return maps.Equal(s.Keys, o.Keys) && maps.Equal(s.Requests, o.Requests)
}

// String renders the state for visualisations.
func (s State) String() string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(s.Keys)) {
		k := s.Keys[name]
		fmt.Fprintf(&b, "%s: %s %s\n", name, k.State, short(k.PublicKey))
	}
	for _, id := range slices.Sorted(maps.Keys(s.Requests)) {
		r := s.Requests[id]
		fmt.Fprintf(&b, "  %s → %s\n", short(id), short(r.Signature))
	}
	return b.String()
}

// observe applies a read of key k that returned v. It reports false when v
// contradicts what earlier operations established: a state that moved
// backwards (a stale read) or another public key.
func observe(k Key, v KeyView) (Key, bool) {
	switch {
	case v.State == k.State:
	case k.State == Generating && (v.State == Active || v.State == Failed):
		k.State = v.State
	default:
		return k, false
	}
	if v.PublicKey != "" {
		if k.PublicKey != "" && k.PublicKey != v.PublicKey {
			return k, false
		}
		k.PublicKey = v.PublicKey
	}
	return k, true
}
