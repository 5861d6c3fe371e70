//go:build !kqd_bugs

package faults

import "github.com/keyquorum/keyquorum/tss"

// Malice is empty outside kqd_bugs builds: no member plays a malicious
// one (malice_on.go).
type Malice struct{}

// Play does nothing: see malice_on.go.
func (*Malice) Play(Bugs, tss.SessionID, string, *tss.PreParams) func() { return func() {} }

// Outbound passes msg through unchanged.
func (*Malice) Outbound(msg tss.Message, _ string) ([]tss.Message, error) {
	return []tss.Message{msg}, nil
}
