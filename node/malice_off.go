//go:build !kqd_bugs

package node

import "github.com/keyquorum/keyquorum/tss"

// maliceState is empty outside kqd_bugs builds: no member plays a
// malicious one (node/malice_on.go).
type maliceState struct{}

func (*maliceState) play(Bugs, tss.SessionID, string, *tss.PreParams) func() { return func() {} }

func (*maliceState) outbound(msg tss.Message, _ string) ([]tss.Message, error) {
	return []tss.Message{msg}, nil
}
