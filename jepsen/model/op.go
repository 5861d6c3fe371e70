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
	"time"
)

// Kind names an operation of the KeyService.
type Kind string

// The operations the model knows.
const (
	Create Kind = "create"
	Get    Kind = "get"
	List   Kind = "list"
	Sign   Kind = "sign"
	// IssueHandle asks for the capability Sign needs. The model does not
	// track handles; an issue only shows whether the key exists. Whether a
	// handle expired when it should is judged against real time by
	// jepsen/checker.Expiry, not here: the model has no clock.
	IssueHandle Kind = "handle"
	// Lifecycle changes of a key's versions (KeyVersionRequest).
	Rotate   Kind = "rotate"
	Promote  Kind = "promote"
	Rollback Kind = "rollback"
	Retire   Kind = "retire"
	Revoke   Kind = "revoke"
	// Activate is not a client call: Split derives it from an
	// acknowledged Create, for the moment within the call that the key
	// became active.
	Activate Kind = "activate"
	// Generated is not a client call either: Split derives it from an
	// acknowledged Rotate, for the moment within the call that the new
	// version's key generation ended.
	Generated Kind = "generated"
	// RevokePrincipal is `kq principal revoke Target` (the authz
	// workload): not a key operation, so the key model never sees it; the
	// authz check judges what the revoked principal did after it.
	RevokePrincipal Kind = "revoke-principal"
)

// IsChange reports whether k is a lifecycle change: an operation with a
// request id that changes the key's versions.
func (k Kind) IsChange() bool {
	switch k {
	case Rotate, Promote, Rollback, Retire, Revoke:
		return true
	}
	return false
}

// Status is an operation's outcome as the model distinguishes it. The
// recording client maps gRPC codes to it; anything it cannot classify as
// definite becomes Unknown.
type Status string

// Outcomes. OK, NotFound, AlreadyExists, FailedPrecondition, Invalid,
// Denied and Unreached are definite: the state changed (OK) or did not
// change (the others) as reported.
const (
	OK                 Status = "ok"
	NotFound           Status = "not-found"
	AlreadyExists      Status = "already-exists"
	FailedPrecondition Status = "failed-precondition"
	Invalid            Status = "invalid-argument"
	// Denied is PERMISSION_DENIED: a handle that does not grant the call.
	Denied Status = "permission-denied"
	// Unreached means the request never reached a node that could apply
	// it: the client (or the follower forwarding it) could not establish a
	// connection. Nothing changed.
	Unreached Status = "unreached"
	Unknown   Status = "unknown"
)

// KeyState is the state of a key version as the API reports it; a key's
// own state is its current version's. Key generation moves a version from
// Generating to Active (the first version) or Staged (a rotation's), or to
// Failed; every other change is a client's lifecycle request.
type KeyState string

// Key states.
const (
	Generating KeyState = "generating"
	Active     KeyState = "active"
	Failed     KeyState = "failed"
	Staged     KeyState = "staged"
	Retired    KeyState = "retired"
	Revoked    KeyState = "revoked"
	Destroyed  KeyState = "destroyed"
)

// Input is what a client asked. Byte strings are hex so that inputs compare
// with ==.
type Input struct {
	Kind      Kind
	Key       string // key name; empty for a whole List
	Algorithm string // Create: "ed25519" or "ecdsa-secp256k1"
	RequestID string // Create, Sign, IssueHandle and lifecycle changes
	Digest    string // Sign: hex of the digest or message
	// Version is the version asked for: Sign's signing version, a
	// lifecycle change's target; 0 means the server's default.
	Version uint32
	// Handle is the id of the capability handle an IssueHandle issues or
	// a Sign presents, and HandleTTL the life it was issued with; both
	// empty in histories that do not say.
	Handle    string
	HandleTTL time.Duration
	// Principal is who asked, in the authz workload (the name of its
	// client certificate); empty for the bootstrap admin of the other
	// workloads. Target is the principal a RevokePrincipal revokes.
	Principal string
	Target    string
	_         struct{}
}

// LongLived is the shortest handle life the model holds to "never
// expires": an hour outlives every harness run (minutes) and every skew
// the clock nemesis applies (at most ten minutes), so a PERMISSION_DENIED
// for such a handle, which the harness issues for the right key and
// purpose, without a use limit and never revokes, has no excuse. A
// shorter handle may expire during the run, and when it may is a matter
// of real time (jepsen/checker.Expiry).
const LongLived = time.Hour

// MayExpire reports whether a handle of life ttl can expire during a run.
// A zero ttl (a history that does not say) counts as may: the model cannot
// hold such a handle to anything.
func MayExpire(ttl time.Duration) bool { return ttl < LongLived }

// KeyView is one key as a read returned it.
type KeyView struct {
	Name      string
	State     KeyState // the current version's (the primary, else version 1)
	PublicKey string   // hex of the current version's raw public key
	// Primary is the version Sign uses; 0 until one is active.
	Primary uint32
	// Versions are every version, oldest first. A view without them (as
	// hand-written histories have) stands for a key with one version in
	// State, primary once active.
	Versions []VersionView
	// Algorithm and PEM are carried for checkers; the model ignores them.
	Algorithm string
	PEM       string
}

// VersionView is one version of a key as a read returned it.
type VersionView struct {
	Number    uint32
	State     KeyState
	PublicKey string // hex; empty until its key generation ended
	PEM       string // for checkers
}

// VersionList returns the view's versions, filling in the single version a
// view without Versions stands for.
func (v KeyView) VersionList() []VersionView {
	if len(v.Versions) > 0 || v.State == "" {
		return v.Versions
	}
	return []VersionView{{Number: 1, State: v.State, PublicKey: v.PublicKey, PEM: v.PEM}}
}

// PrimaryVersion returns the view's primary, reading a view without
// Versions as a one-version key.
func (v KeyView) PrimaryVersion() uint32 {
	if len(v.Versions) == 0 && v.Primary == 0 && v.State == Active {
		return 1
	}
	return v.Primary
}

// Output is what the client got back.
type Output struct {
	Status    Status
	Key       KeyView   // Create, Get, and a List projected onto one key
	Found     bool      // a List projected onto one key: was the key listed
	Keys      []KeyView // a whole List, sorted by name
	Signature string    // Sign: hex
	Version   uint32    // Sign: the key version that signed
	// Frost is what a FROST signature was made with: the nonce
	// commitments, hex, one per committee member (SignResponse's
	// frost_commitments). Empty for tss-lib and for a repeated request id.
	Frost []string
	Error string // the error text, for reports only
	_     struct{}
}

// String renders an input for history visualisations, prefixed with the
// principal that asked when one is named.
func (in Input) String() string {
	if in.Principal != "" {
		p := in
		p.Principal = ""
		return in.Principal + ": " + p.String()
	}
	switch in.Kind {
	case RevokePrincipal:
		return fmt.Sprintf("revoke-principal(%s)", in.Target)
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
		v := ""
		if in.Version != 0 {
			v = fmt.Sprintf(" v%d", in.Version)
		}
		return fmt.Sprintf("sign(%s%s%s, %s, rid=%s)", in.Key, v, in.ttlString(), short(in.Digest), short(in.RequestID))
	case IssueHandle:
		return fmt.Sprintf("handle(%s%s, rid=%s)", in.Key, in.ttlString(), short(in.RequestID))
	case Rotate, Promote, Rollback, Retire, Revoke:
		v := "default"
		if in.Version != 0 {
			v = fmt.Sprintf("v%d", in.Version)
		}
		return fmt.Sprintf("%s(%s %s, rid=%s)", in.Kind, in.Key, v, short(in.RequestID))
	case Activate, Generated:
		return fmt.Sprintf("%s(%s, rid=%s)", in.Kind, in.Key, short(in.RequestID))
	}
	return string(in.Kind)
}

// ttlString names a handle that may expire during the run, whose refusal
// the model accepts: " h=<id> ttl=3s".
func (in Input) ttlString() string {
	if in.Handle == "" || !MayExpire(in.HandleTTL) {
		return ""
	}
	return fmt.Sprintf(" h=%s ttl=%s", in.Handle, in.HandleTTL)
}

// String renders an output for history visualisations.
func (out Output) String() string {
	if out.Status != OK {
		return string(out.Status)
	}
	switch {
	case out.Signature != "":
		return fmt.Sprintf("v%d sig %s", out.Version, short(out.Signature))
	case out.Keys != nil:
		names := make([]string, len(out.Keys))
		for i, k := range out.Keys {
			names[i] = k.Name + ":" + string(k.State)
		}
		return "[" + strings.Join(names, " ") + "]"
	case len(out.Key.Versions) > 0:
		return out.Key.versionsString()
	case out.Key.State != "":
		return fmt.Sprintf("%s %s", out.Key.State, short(out.Key.PublicKey))
	case out.Key.Name != "":
		return "absent" // a List projected onto a key it did not list
	}
	return "ok"
}

// versionsString renders versions compactly: "p2 [v1:active v2:active*]",
// the primary starred.
func (v KeyView) versionsString() string {
	parts := make([]string, len(v.Versions))
	for i, vv := range v.Versions {
		parts[i] = fmt.Sprintf("v%d:%s", vv.Number, vv.State)
		if vv.Number == v.Primary {
			parts[i] += "*"
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
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
