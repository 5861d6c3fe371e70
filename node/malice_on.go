//go:build kqd_bugs

package node

import (
	"crypto/rand"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/malice"
)

// malicePrefix starts the id of a request in whose sessions a member with
// the malicious-member bug sends a malformed message: "malice-<shape>-…".
const malicePrefix = "malice-"

// maliceState holds the sessions in which this member plays a malicious
// one (kqd_bugs builds only).
type maliceState struct {
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

// play makes this member malicious in session if requestID asks for a
// shape; pre are its keygen pre-params (for a mod proof sharing a factor
// with its Paillier modulus), nil outside ECDSA keygen. It returns the
// function that forgets the session.
func (m *maliceState) play(bugs Bugs, session tss.SessionID, requestID string, pre *tss.PreParams) func() {
	shape := maliceShape(requestID)
	if !bugs.maliciousMember() || shape == "" {
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

// outbound returns what this member sends to `to` in place of msg.
func (m *maliceState) outbound(msg tss.Message, to string) ([]tss.Message, error) {
	m.mu.Lock()
	f := m.sessions[msg.Session]
	m.mu.Unlock()
	if f == nil {
		return []tss.Message{msg}, nil
	}
	return f.Outbound(msg, to)
}

// The flood-messages bug's rate: floodBurst junk messages of floodPayload
// random bytes to each peer every floodEvery, while the peer's queue is
// at most a quarter full (the member's real messages still go out).
const (
	floodEvery   = 10 * time.Millisecond
	floodBurst   = 8
	floodPayload = 4 << 10
)

// flood writes junk round messages, each for a fresh random session that
// never starts, to every peer until the links close (kqd_bugs builds
// only). Receivers hold them as messages for sessions not started yet,
// within this sender's share of the pending buffer, and drop the rest.
func (l *peerLinks) flood() {
	payload := make([]byte, floodPayload)
	_, _ = rand.Read(payload)
	t := time.NewTicker(floodEvery)
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		l.peersMu.RLock()
		peers := slices.Collect(maps.Values(l.peers))
		l.peersMu.RUnlock()
		protocol := l.protocol()
		for _, p := range peers {
			for range floodBurst {
				if len(p.queue) > cap(p.queue)/4 {
					break
				}
				var sid tss.SessionID
				_, _ = rand.Read(sid[:])
				select {
				case p.queue <- &kqpb.RoundMessage{SessionId: sid[:], To: []string{p.id}, Broadcast: false, Payload: payload, Protocol: protocol}:
				default:
				}
			}
		}
	}
}
