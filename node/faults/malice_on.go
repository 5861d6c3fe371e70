//go:build kqd_bugs

package faults

import (
	"strings"
	"sync"

	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/malice"
)

// malicePrefix starts the id of a request in whose sessions a member with
// the malicious-member bug sends a malformed message: "malice-<shape>-…".
const malicePrefix = "malice-"

// Malice holds the sessions in which this member plays a malicious one
// (kqd_bugs builds only). The zero value is ready to use.
type Malice struct {
	mu       sync.Mutex
	sessions map[tss.SessionID]*malice.Member
}

// maliceShape returns the shape a request id asks for, or "".
func maliceShape(requestID string) malice.Shape {
	rest, ok := strings.CutPrefix(requestID, malicePrefix)
	if !ok {
		return ""
	}
	for _, s := range malice.Shapes() {
		if strings.HasPrefix(rest, string(s)+"-") || rest == string(s) {
			return s
		}
	}
	return ""
}

// Play makes this member malicious in session if bugs has the
// malicious-member bug on and requestID asks for a shape; pre are its
// keygen pre-params (for a mod proof sharing a factor with its Paillier
// modulus), nil outside ECDSA keygen. It returns the function that
// forgets the session.
func (m *Malice) Play(bugs Bugs, session tss.SessionID, requestID string, pre *tss.PreParams) func() {
	shape := maliceShape(requestID)
	if !bugs.MaliciousMemberOn() || shape == "" {
		return func() {}
	}
	f, err := malice.New(shape, tss.PaillierFactor(pre))
	if err != nil {
		return func() {}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions == nil {
		m.sessions = map[tss.SessionID]*malice.Member{}
	}
	m.sessions[session] = f
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.sessions, session)
	}
}

// Outbound returns what this member sends to `to` in place of msg.
func (m *Malice) Outbound(msg tss.Message, to string) ([]tss.Message, error) {
	m.mu.Lock()
	f := m.sessions[msg.Session]
	m.mu.Unlock()
	if f == nil {
		return []tss.Message{msg}, nil
	}
	return f.Outbound(msg, to)
}
