// Package model is the sequential specification of keyquorum's key state
// machine as porcupine models, written from docs/CONSISTENCY.md. It imports
// no other keyquorum package: histories reach it as plain values, so a
// model can be read, and tested with hand-written histories, on its own.
//
// Operations whose outcome the client could not learn (a timeout, a lost
// connection, leadership lost) carry Output.Status == Unknown and must be
// recorded with Return = math.MaxInt64: the checker may then place them
// anywhere after their call, which allows both "it happened" and "it did not
// happen yet". The model itself treats an unknown outcome as "happened, with
// a result nobody saw".
package model

import (
	"fmt"
	"slices"
	"strings"
)

// Kind names an operation of the KeyService.
type Kind string

// The operations the model knows. Lifecycle operations (rotate, revoke,
// handles) are added as new kinds with their own step functions.
const (
	Create Kind = "create"
	Get    Kind = "get"
	List   Kind = "list"
	Sign   Kind = "sign"
	// Activate is not a client call: SplitCreates derives it from an
	// acknowledged Create, for the moment within the call that the key
	// became active.
	Activate Kind = "activate"
)

// Status is an operation's outcome as the model distinguishes it. The
// recording client maps gRPC codes to it; anything it cannot classify as
// definite becomes Unknown.
type Status string

// Outcomes. OK, NotFound, AlreadyExists, FailedPrecondition, Invalid and
// Unreached are
// definite: the state changed (OK) or did not change (the others) as
// reported.
const (
	OK                 Status = "ok"
	NotFound           Status = "not-found"
	AlreadyExists      Status = "already-exists"
	FailedPrecondition Status = "failed-precondition"
	Invalid            Status = "invalid-argument"
	// Unreached means the request never reached a node that could apply
	// it: the client (or the follower forwarding it) could not establish a
	// connection. Nothing changed.
	Unreached Status = "unreached"
	Unknown   Status = "unknown"
)

// KeyState is a key's lifecycle state as the API reports it. States only
// move forward: Generating to Active or to Failed.
type KeyState string

// Key states.
const (
	Generating KeyState = "generating"
	Active     KeyState = "active"
	Failed     KeyState = "failed"
)

// Input is what a client asked. Byte strings are hex so that inputs compare
// with ==.
type Input struct {
	Kind      Kind
	Key       string // key name; empty for a whole List
	Algorithm string // Create: "ed25519" or "ecdsa-secp256k1"
	RequestID string // Create and Sign
	Digest    string // Sign: hex of the digest or message
	_         struct{}
}

// KeyView is one key as a read returned it.
type KeyView struct {
	Name      string
	State     KeyState
	PublicKey string // hex of the raw public key; empty unless active
	// Algorithm and PEM are carried for checkers; the model ignores them.
	Algorithm string
	PEM       string
}

// Output is what the client got back.
type Output struct {
	Status    Status
	Key       KeyView   // Create, Get, and a List projected onto one key
	Found     bool      // a List projected onto one key: was the key listed
	Keys      []KeyView // a whole List, sorted by name
	Signature string    // Sign: hex
	Version   uint32    // Sign: the key version that signed
	Error     string    // the error text, for reports only
	_         struct{}
}

// String renders an input for history visualisations.
func (in Input) String() string {
	switch in.Kind {
	case Create:
		return fmt.Sprintf("create(%s, %s, rid=%s)", in.Key, in.Algorithm, short(in.RequestID))
	case Get:
		return fmt.Sprintf("get(%s)", in.Key)
	case List:
		if in.Key != "" {
			return fmt.Sprintf("list∋%s", in.Key)
		}
		return "list()"
	case Sign:
		return fmt.Sprintf("sign(%s, %s, rid=%s)", in.Key, short(in.Digest), short(in.RequestID))
	case Activate:
		return fmt.Sprintf("activate(%s)", in.Key)
	}
	return string(in.Kind)
}

// String renders an output for history visualisations.
func (out Output) String() string {
	if out.Status != OK {
		return string(out.Status)
	}
	switch {
	case out.Signature != "":
		return "sig " + short(out.Signature)
	case out.Keys != nil:
		names := make([]string, len(out.Keys))
		for i, k := range out.Keys {
			names[i] = k.Name + ":" + string(k.State)
		}
		return "[" + strings.Join(names, " ") + "]"
	case out.Key.State != "":
		return fmt.Sprintf("%s %s", out.Key.State, short(out.Key.PublicKey))
	case out.Key.Name != "":
		return "absent" // a List projected onto a key it did not list
	}
	return "ok"
}

// Lookup returns the listed key called name.
func (out Output) Lookup(name string) (KeyView, bool) {
	i, ok := slices.BinarySearchFunc(out.Keys, name, func(k KeyView, n string) int { return strings.Compare(k.Name, n) })
	if !ok {
		return KeyView{}, false
	}
	return out.Keys[i], true
}

func short(s string) string {
	if len(s) <= 12 {
		return s
	}
	return s[:12] + "…"
}
