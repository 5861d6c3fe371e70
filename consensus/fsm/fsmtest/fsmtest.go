// Package fsmtest runs the replicated state machine in a test without
// raft: entries encoded as the log carries them and applied one by one at
// increasing indexes, the audit chain on, and a stand-in for the
// algorithms. It is for tests of what observes the state machine (the
// node's metrics, its audit export), not of signatures.
package fsmtest

import (
	"testing"

	"github.com/hashicorp/raft"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
)

// Crypto accepts the two algorithms by name, every message and every
// signature.
type Crypto struct{}

// KnownAlgorithm implements fsm.Crypto.
func (Crypto) KnownAlgorithm(a string) bool { return a == "ecdsa-secp256k1" || a == "ed25519" }

// CheckMessage implements fsm.Crypto.
func (Crypto) CheckMessage(string, []byte) error { return nil }

// Verify implements fsm.Crypto.
func (Crypto) Verify(string, []byte, []byte, []byte) bool { return true }

// Machine is a state machine with the audit chain on.
type Machine struct {
	*fsm.FSM
	t     testing.TB
	index uint64
}

// New returns a Machine with the default limits.
func New(t testing.TB) *Machine {
	t.Helper()
	f, err := fsm.NewFSM(fsm.DefaultFSMConfig(), Crypto{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.EnableAudit(auditchain.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	return &Machine{FSM: f, t: t}
}

// Index is the index of the last entry applied.
func (m *Machine) Index() uint64 { return m.index }

// Apply appends cmd as the next entry and returns its result.
func (m *Machine) Apply(cmd fsm.Command) fsm.Result {
	m.t.Helper()
	data, err := fsm.Encode(cmd)
	if err != nil {
		m.t.Fatal(err)
	}
	m.index++
	res, _ := m.FSM.Apply(&raft.Log{Type: raft.LogCommand, Index: m.index, Data: data}).(fsm.Result)
	return res
}

// OK is Apply, failing the test when the state machine refuses cmd.
func (m *Machine) OK(cmd fsm.Command) fsm.Result {
	m.t.Helper()
	res := m.Apply(cmd)
	if res.Err != nil {
		m.t.Fatalf("%s: %v", cmd.Type(), res.Err)
	}
	return res
}
