// Package protover is the state machine's protocol versions and the rule
// of raising the cluster's active one. Every log entry and snapshot says
// the version it was written under; a replica that meets one it cannot
// interpret stops applying instead of skipping it, so no replica's state
// or audit chain diverges in silence.
//
// The cluster's active version is replicated. It rises, never falls, and
// only to a version every member has reported it supports (Supports, from
// each member's report at its start), as etcd's cluster version does. A
// node writes entries under the active version and never proposes a
// command the active version does not have. Max is the newest version
// this build reads and writes.
//
// The package is pure, like the state machine that holds the table.
package protover

import (
	"errors"
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
)

const (
	// V1 is the log format before versions: entries carry no "v", and
	// unknown JSON fields were ignored.
	V1 uint32 = 1
	// V2 versions every entry and snapshot, refuses unknown fields, and
	// adds RaiseProtocol.
	V2 uint32 = 2
)

// Errors of decoding and proposing under protocol versions.
var (
	// ErrUnsupported is returned for an entry or snapshot written under a
	// newer protocol version than this build supports.
	ErrUnsupported = errors.New("consensus: protocol version not supported by this build")
	// ErrNotActive is returned when a command needs a protocol version
	// the cluster has not raised to yet.
	ErrNotActive = errors.New("consensus: protocol version not active in this cluster")
)

// Active returns the active version a replicated one stands for: 0, before
// the first raise, is V1.
func Active(v uint32) uint32 { return max(v, V1) }

// Supports holds, by member, the newest version each reported at its last
// start; a member that reported none (an older build) supports V1. It is a
// map, so a snapshot holds it exactly as the table it replaced; the state
// machine keeps it non-nil.
type Supports map[string]uint32

// Report records the version a member reported at its start.
func (s Supports) Report(member string, v uint32) { s[member] = Active(v) }

// Of returns the newest version member supports.
func (s Supports) Of(member string) uint32 { return Active(s[member]) }

// Copy returns every member's newest version.
func (s Supports) Copy() map[string]uint32 {
	out := make(map[string]uint32, len(s))
	for m := range s {
		out[m] = s.Of(m)
	}
	return out
}

// CheckRaise refuses a raise to version unless every one of members (the
// configuration's members, as the leader sees them) reported it supports
// it.
func (s Supports) CheckRaise(version uint32, members []string) error {
	for _, m := range members {
		if v := s.Of(m); v < version {
			return fmt.Errorf("raise protocol to %d: %w: %s supports up to %d", version, fsmerr.ErrBadTransition, m, v)
		}
	}
	return nil
}

// ToRaise returns the version the active one can rise to now: the lowest
// version that every one of members supports, newest at most, when that
// is above active, else 0.
func (s Supports) ToRaise(members []string, active, newest uint32) uint32 {
	if len(members) == 0 {
		return 0
	}
	lowest := newest
	for _, m := range members {
		lowest = min(lowest, s.Of(m))
	}
	if lowest > active {
		return lowest
	}
	return 0
}
