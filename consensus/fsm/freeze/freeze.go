// Package freeze is the break-glass freeze of a cluster's signing: any
// cluster-admin stops all signing at once, with no quorum, and while the
// freeze is in force every sign request is refused (the audit key's
// checkpoints excepted: the chain keeps its checkpoints during an
// incident). Lifting it is an unfreeze ceremony once the policy lists
// operators, else an Unfreeze by a cluster-admin. The state machine holds
// the freeze in force and ends the pending requests when it starts.
//
// The package is pure, like the state machine that holds the freeze.
package freeze

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
)

// ErrFrozen: the cluster is frozen; nothing signs until an unfreeze
// ceremony executes (FAILED_PRECONDITION).
var ErrFrozen = fmt.Errorf("the cluster is frozen: %w", fsmerr.ErrBadTransition)

// maxReason bounds a freeze's reason.
const maxReason = 256

// Frozen records a freeze in force; nil while none is.
type Frozen struct {
	Actor  string `json:"actor"`
	Reason string `json:"reason"`
	Index  uint64 `json:"index"`
	Time   int64  `json:"time"`
}

// Start returns the freeze that actor starts for reason at index and
// replicated time now. A cluster already frozen keeps its freeze: next is
// nil and duplicate true.
func (f *Frozen) Start(actor, reason string, index uint64, now int64) (next *Frozen, duplicate bool, err error) {
	if f != nil {
		return nil, true, nil
	}
	if len(reason) > maxReason {
		return nil, false, fmt.Errorf("freeze: %w: reason longer than %d bytes", fsmerr.ErrInvalidCommand, maxReason)
	}
	return &Frozen{Actor: actor, Reason: reason, Index: index, Time: now}, false, nil
}

// CheckLift refuses to lift a freeze when the cluster is not frozen.
func (f *Frozen) CheckLift() error {
	if f == nil {
		return fmt.Errorf("unfreeze: %w: the cluster is not frozen", fsmerr.ErrBadTransition)
	}
	return nil
}

// RefuseSign refuses a sign request with key while the freeze is in
// force; audit tells whether key is the audit key, whose checkpoints go
// on.
func (f *Frozen) RefuseSign(key string, audit bool) error {
	if f != nil && !audit {
		return fmt.Errorf("sign with %q: %w since entry %d", key, ErrFrozen, f.Index)
	}
	return nil
}

// Copy returns a copy of the freeze in force, or nil.
func (f *Frozen) Copy() *Frozen {
	if f == nil {
		return nil
	}
	c := *f
	return &c
}
