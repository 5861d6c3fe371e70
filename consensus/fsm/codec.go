package fsm

import (
	"encoding/json"
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/fsm/commands"
	"github.com/keyquorum/keyquorum/consensus/fsm/strictjson"
)

// Since returns the protocol version that introduced the command's type.
func Since(c Command) uint32 {
	_, v := commands.NewCommand(c.Type())
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
	c, since := commands.NewCommand(env.Type)
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
