package fsm

import (
	"encoding/json"
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/fsm/strictjson"
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

// Since returns the protocol version that introduced the command's type.
func Since(c Command) uint32 {
	_, v := newCommand(c.Type())
	return v
}

type envelope struct {
	// V is the protocol version the entry was written under; absent (0)
	// means ProtocolV1.
	V    uint32          `json:"v,omitempty"`
	Type CommandType     `json:"type"`
	Body json.RawMessage `json:"body"`
}

// Encode serialises a command for the log under the newest protocol
// version that has it, MaxProtocol at most. Nodes propose with EncodeAt and
// the cluster's active version instead.
func Encode(c Command) ([]byte, error) { return EncodeAt(c, max(Since(c), ProtocolV1)) }

// EncodeAt serialises a command under protocol version v: ErrProtocolNotActive
// when the command's type is newer than v, ErrUnsupportedProtocol when v is
// newer than this build. A RaiseProtocol is written under the version it
// raises to: a replica too old for that version must stop at it.
func EncodeAt(c Command, v uint32) ([]byte, error) {
	since := Since(c)
	if r, ok := c.(*RaiseProtocol); ok {
		v = max(v, r.Version)
	}
	switch {
	case since == 0:
		return nil, fmt.Errorf("consensus: encode %s: %w", c.Type(), ErrUnknownCommand)
	case v > MaxProtocol:
		return nil, fmt.Errorf("consensus: encode %s under protocol %d (this build supports up to %d): %w", c.Type(), v, MaxProtocol, ErrUnsupportedProtocol)
	case since > v:
		return nil, fmt.Errorf("consensus: %s needs protocol %d, the cluster runs %d: %w", c.Type(), since, v, ErrProtocolNotActive)
	}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("consensus: encode %s: %w", c.Type(), err)
	}
	env := envelope{Type: c.Type(), Body: body}
	if v > ProtocolV1 {
		env.V = v
	}
	return json.Marshal(env)
}

// Decode parses a command written by Encode or EncodeAt.
func Decode(data []byte) (Command, error) {
	c, _, err := DecodeVersion(data)
	return c, err
}

// DecodeVersion parses a command and returns the protocol version it was
// written under. Under ProtocolV2 and later, a field this build does not
// know is an error, not something to drop: an entry this replica cannot
// fully interpret must not be half-applied.
func DecodeVersion(data []byte) (Command, uint32, error) {
	var env envelope
	if err := strictjson.Decode(data, &env); err != nil {
		return nil, 0, fmt.Errorf("consensus: decode command: %w", err)
	}
	v := max(env.V, ProtocolV1)
	if v > MaxProtocol {
		return nil, v, fmt.Errorf("consensus: %s written under protocol %d, this build supports up to %d: %w", env.Type, v, MaxProtocol, ErrUnsupportedProtocol)
	}
	c, since := newCommand(env.Type)
	switch {
	case c == nil:
		return nil, v, fmt.Errorf("consensus: %w: %q", ErrUnknownCommand, env.Type)
	case since > v:
		return nil, v, fmt.Errorf("consensus: %s written under protocol %d, which does not have it: %w", env.Type, v, ErrInvalidCommand)
	}
	var err error
	if v == ProtocolV1 {
		err = json.Unmarshal(env.Body, c)
	} else {
		err = strictjson.Decode(env.Body, c)
	}
	if err != nil {
		return nil, v, fmt.Errorf("consensus: decode %s: %w", env.Type, err)
	}
	return c, v, nil
}

func applyRaiseProtocol(f *FSM, c *RaiseProtocol, _ uint64) Result {
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

// Protocol returns the cluster's active protocol version.
func (f *FSM) Protocol() uint32 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.ActiveProtocol()
}

// ProtocolSupport returns, by member, the highest protocol version each
// reported at its last start.
func (f *FSM) ProtocolSupport() map[string]uint32 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Supports.Copy()
}

// ProtocolToRaise returns the version the active protocol can rise to now:
// the lowest version that every one of members supports, when that is
// above the active one, else 0.
func (f *FSM) ProtocolToRaise(members []string) uint32 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Supports.ToRaise(members, f.st.ActiveProtocol(), MaxProtocol)
}

func recordsRaiseProtocol(_ *FSM, c *RaiseProtocol, res Result, r audit.Record) []audit.Record {
	r.Version, r.Reason = c.Version, fmt.Sprintf("active protocol raised to %d", c.Version)
	if res.Err != nil {
		_, r.Reason = outcomeOf(res)
	}
	return []audit.Record{r}
}
