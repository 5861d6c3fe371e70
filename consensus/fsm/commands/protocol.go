package commands

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
)

// protocolCommands raise the cluster's active protocol version.
func protocolCommands() []commandSpec {
	return []commandSpec{spec(protover.V2, applyRaiseProtocol, recordsRaiseProtocol)}
}

func applyRaiseProtocol(f *Machine, c *entry.RaiseProtocol, _ uint64) Result {
	cur := f.st.ActiveProtocol()
	switch {
	case c.Version <= cur:
		return Result{Err: fmt.Errorf("raise protocol to %d: %w: already at %d", c.Version, ErrStale, cur)}
	case c.Version > protover.Max:
		return Result{Err: fmt.Errorf("raise protocol to %d: %w", c.Version, protover.ErrUnsupported)}
	case len(c.Members) == 0:
		return Result{Err: fmt.Errorf("raise protocol to %d: %w: no members named", c.Version, ErrInvalidCommand)}
	}
	if err := f.st.Supports.CheckRaise(c.Version, c.Members); err != nil {
		return Result{Err: err}
	}
	f.st.Protocol = c.Version
	return Result{Version: c.Version}
}

func recordsRaiseProtocol(_ *Machine, c *entry.RaiseProtocol, res Result, r audit.Record) []audit.Record {
	r.Version, r.Reason = c.Version, fmt.Sprintf("active protocol raised to %d", c.Version)
	if res.Err != nil {
		_, r.Reason = outcomeOf(res)
	}
	return []audit.Record{r}
}
