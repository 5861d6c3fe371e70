package commands

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
)

// protocolCommands raise the cluster's active protocol version.
func protocolCommands() []commandSpec {
	return []commandSpec{spec(ProtocolV2, applyRaiseProtocol, recordsRaiseProtocol)}
}

// Protocol versions, as package protover has them: every entry and
// snapshot says the version it was written under, and the cluster's
// active version rises by RaiseProtocol only to one every member supports.
const (
	// ProtocolV1 is the log format before versions.
	ProtocolV1 = protover.V1
	// ProtocolV2 versions every entry and snapshot, refuses unknown
	// fields, and adds RaiseProtocol.
	ProtocolV2 = protover.V2
	// MaxProtocol is the newest protocol version this build reads and
	// writes (a kqd_compat build: ProtocolV1).
	MaxProtocol = protover.Max
)

// Errors of decoding and proposing under protocol versions.
var (
	// ErrUnsupportedProtocol is returned for an entry or snapshot written
	// under a newer protocol version than this build supports.
	ErrUnsupportedProtocol = protover.ErrUnsupported
	// ErrProtocolNotActive is returned when a command needs a protocol
	// version the cluster has not raised to yet.
	ErrProtocolNotActive = protover.ErrNotActive
)

func applyRaiseProtocol(f *Machine, c *RaiseProtocol, _ uint64) Result {
	cur := f.st.ActiveProtocol()
	switch {
	case c.Version <= cur:
		return Result{Err: fmt.Errorf("raise protocol to %d: %w: already at %d", c.Version, ErrStale, cur)}
	case c.Version > MaxProtocol:
		return Result{Err: fmt.Errorf("raise protocol to %d: %w", c.Version, ErrUnsupportedProtocol)}
	case len(c.Members) == 0:
		return Result{Err: fmt.Errorf("raise protocol to %d: %w: no members named", c.Version, ErrInvalidCommand)}
	}
	if err := f.st.Supports.CheckRaise(c.Version, c.Members); err != nil {
		return Result{Err: err}
	}
	f.st.Protocol = c.Version
	return Result{Version: c.Version}
}

func recordsRaiseProtocol(_ *Machine, c *RaiseProtocol, res Result, r audit.Record) []audit.Record {
	r.Version, r.Reason = c.Version, fmt.Sprintf("active protocol raised to %d", c.Version)
	if res.Err != nil {
		_, r.Reason = outcomeOf(res)
	}
	return []audit.Record{r}
}
