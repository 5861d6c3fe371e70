package bypass

import (
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/signs"
)

// TestAnnouncedAttemptsMustMatchTheEntry pins what a member checks before it
// starts an attempt the leader announced: only the entry's own request or
// its dual-sign companion, first attempt, this entry's index, and the
// entry's key, digest, committee and presignature.
func TestAnnouncedAttemptsMustMatchTheEntry(t *testing.T) {
	entry := &fsm.SignRequested{RequestID: "r1", Key: "k", Digest: []byte("digest"), Committee: []string{"n1", "n2"}, Presig: "p1"}
	own := func() *fsm.Sign {
		return &fsm.Sign{RequestID: "r1", Key: "k", Version: 2, Digest: []byte("digest"), Committee: []string{"n1", "n2"},
			Attempt: 1, SessionIndex: 7, State: fsm.SignStatePending, Presig: "p1"}
	}
	companion := func() *fsm.Sign {
		s := own()
		s.RequestID, s.Parent, s.Version, s.Presig = signs.DualRequestID("r1", 1), "r1", 1, ""
		return s
	}
	for _, s := range []*fsm.Sign{own(), companion()} {
		if err := AttemptOf(entry, 7, s); err != nil {
			t.Errorf("%s: %v", s.RequestID, err)
		}
	}
	bad := map[string]func(*fsm.Sign){
		"another request":       func(s *fsm.Sign) { s.RequestID = "r2" },
		"another digest":        func(s *fsm.Sign) { s.Digest = []byte("other") },
		"another key":           func(s *fsm.Sign) { s.Key = "k2" },
		"another committee":     func(s *fsm.Sign) { s.Committee = []string{"n1", "n3"} },
		"another presignature":  func(s *fsm.Sign) { s.Presig = "p2" },
		"a later attempt":       func(s *fsm.Sign) { s.Attempt = 2 },
		"another entry's index": func(s *fsm.Sign) { s.SessionIndex = 6 },
		"already finished":      func(s *fsm.Sign) { s.State = fsm.SignStateCompleted },
		"a foreign companion":   func(s *fsm.Sign) { s.Parent = "r0" },
	}
	for name, mutate := range bad {
		for _, s := range []*fsm.Sign{own(), companion()} {
			mutate(s)
			if err := AttemptOf(entry, 7, s); err == nil {
				t.Errorf("%s (%s) was accepted", name, s.RequestID)
			}
		}
	}
	versioned := *entry
	versioned.Version = 3
	if err := AttemptOf(&versioned, 7, own()); err == nil {
		t.Error("an attempt of another version than the entry asked for was accepted")
	}
}
