package auditwork

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/service"
)

// fakeMember records what the audit work proposes, and completes the
// sign requests it proposes when done is set.
type fakeMember struct {
	mu        sync.Mutex
	reachable []string
	proposed  []fsm.Command
	signs     []*fsm.SignRequested
	st        *fakeState
	done      *fsm.Sign // the record a proposed sign request ends in
	wake      chan struct{}
}

func (m *fakeMember) IsLeader() bool      { return true }
func (m *fakeMember) Reachable() []string { return m.reachable }
func (m *fakeMember) Go(f func())         { f() }
func (m *fakeMember) Propose(_ context.Context, cmd fsm.Command) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.proposed = append(m.proposed, cmd)
}
func (m *fakeMember) Apply(_ context.Context, cmd fsm.Command) (fsm.Result, error) {
	m.Propose(context.Background(), cmd)
	return fsm.Result{}, nil
}
func (m *fakeMember) ProposeSign(_ context.Context, _ *fsm.Key, _ bool, cmd *fsm.SignRequested) (bool, []fsm.FrostCommitment, error) {
	m.signs = append(m.signs, cmd)
	m.st.set(cmd.RequestID, &fsm.Sign{State: fsm.SignStatePending})
	go func() {
		m.st.set(cmd.RequestID, m.done)
		close(m.wake)
	}()
	return false, nil, nil
}
func (m *fakeMember) WatchSign(string) <-chan struct{}         { return m.wake }
func (m *fakeMember) Encode(fsm.Command) ([]byte, error)       { return nil, nil }
func (m *fakeMember) ReportOnce(context.Context, []byte) error { return nil }

// fakeState holds the sign records the fake member's requests end in.
type fakeState struct {
	mu    sync.Mutex
	signs map[string]*fsm.Sign
}

func (s *fakeState) AuditKey() (*fsm.Key, int, bool)        { return nil, 0, false }
func (s *fakeState) AuditHead() auditchain.Head             { return auditchain.Head{} }
func (s *fakeState) AuditRecent(uint64, int) []audit.Record { return nil }
func (s *fakeState) EnableAudit(auditchain.Config) error    { return nil }
func (s *fakeState) SetObserver(fsm.Observer)               {}

func (s *fakeState) set(id string, sg *fsm.Sign) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signs[id] = sg
}

func (s *fakeState) Sign(id string) (*fsm.Sign, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sg, ok := s.signs[id]
	return sg, ok && sg != nil
}

func newWork(t *testing.T, done *fsm.Sign) (*Work, *fakeMember) {
	st := &fakeState{signs: map[string]*fsm.Sign{}}
	m := &fakeMember{st: st, done: done, wake: make(chan struct{})}
	cluster := &config.Cluster{Threshold: 1, Nodes: []config.NodeConfig{{ID: "n1"}, {ID: "n2"}, {ID: "n3"}},
		Sign: config.SignConfig{Timeout: time.Second, MaxAttempts: 2}}
	w := &Work{cfg: Config{Cluster: cluster, ID: "n1", Log: slog.New(slog.DiscardHandler), Now: time.Now}, m: m, st: st}
	return w, m
}

// TestSignWaitsForTheSignature: the audit key's request goes through the
// ordinary signing path, as this member, and Sign returns its signature.
func TestSignWaitsForTheSignature(t *testing.T) {
	w, m := newWork(t, &fsm.Sign{State: fsm.SignStateCompleted, Signature: []byte("sig")})
	id := fsm.AuditRequestPrefix + "checkpoint-7"
	sig, err := w.Sign(context.Background(), &fsm.Key{Name: fsm.AuditKeyName}, id, []byte("msg"))
	if err != nil || string(sig) != "sig" {
		t.Fatalf("Sign = %q, %v", sig, err)
	}
	if len(m.signs) != 1 || m.signs[0].RequestID != id || m.signs[0].Actor != fsm.NodeActor("n1") {
		t.Fatalf("proposed %+v", m.signs)
	}
	// A request already made is awaited, not repeated.
	if _, err := w.Sign(context.Background(), &fsm.Key{Name: fsm.AuditKeyName}, id, []byte("msg")); err != nil || len(m.signs) != 1 {
		t.Fatalf("second Sign: %v, %d proposals", err, len(m.signs))
	}
}

// TestSignEnded: a failed audit signature wraps service.ErrSignEnded,
// with the text the node has always returned.
func TestSignEnded(t *testing.T) {
	w, _ := newWork(t, &fsm.Sign{State: fsm.SignStateFailed})
	_, err := w.Sign(context.Background(), &fsm.Key{Name: fsm.AuditKeyName}, fsm.AuditRequestPrefix+"x", nil)
	if !errors.Is(err, service.ErrSignEnded) || err.Error() != "node: audit key signature failed or was evicted" {
		t.Fatalf("Sign = %v", err)
	}
}

// TestCreateKeyWaitsForEveryMember: the audit key needs every member, so
// it is proposed only when all are reachable, under the next name after
// failed attempts.
func TestCreateKeyWaitsForEveryMember(t *testing.T) {
	w, m := newWork(t, nil)
	m.reachable = []string{"n1", "n2"}
	w.createKey(context.Background(), 1)
	if len(m.proposed) != 0 {
		t.Fatalf("proposed %v with n3 unreachable", m.proposed)
	}
	m.reachable = []string{"n3", "n1", "n2"}
	w.createKey(context.Background(), 1)
	c, ok := m.proposed[0].(*fsm.CreateKey)
	if len(m.proposed) != 1 || !ok || c.Name != fsm.AuditKeyName+".2" || c.RequestID != fsm.AuditRequestPrefix+"key-"+c.Name || c.Algorithm != "ed25519" {
		t.Fatalf("proposed %+v", m.proposed)
	}
}
