package tss

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Engine runs this node's side of keygen and signing sessions. It is safe for
// concurrent use: Keygen and Sign block their caller for the session's
// duration while Deliver may be called from any number of transport
// goroutines.
type Engine struct {
	cfg  Config
	self string
	tr   Transport
	log  *slog.Logger

	// heavy holds one token per protocol step of a heavy session that is
	// computing (Config.HeavyWorkers).
	heavy chan struct{}

	mu       sync.Mutex
	sessions map[SessionID]*session
	pending  *pending
	recent   *recent
}

// NewEngine returns an engine for the member self. log may be nil.
func NewEngine(cfg Config, self string, tr Transport, log *slog.Logger) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if self == "" {
		return nil, errors.New("tss: empty node id")
	}
	if tr == nil {
		return nil, errors.New("tss: nil transport")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{
		cfg:      cfg,
		self:     self,
		tr:       tr,
		log:      log.With("component", "tss", "node", self),
		heavy:    make(chan struct{}, cfg.HeavyWorkers),
		sessions: make(map[SessionID]*session),
		pending:  newPending(cfg),
		recent:   newRecent(cfg.RecentSessions),
	}, nil
}

// Self returns this engine's node ID.
func (e *Engine) Self() string { return e.self }

// Deliver hands the engine an inbound message whose From the transport has
// authenticated. It never blocks on protocol work. The size cap is enforced
// before parsing. Messages for a session not started yet are held (bounded,
// with TTL) and fed to it when it starts; messages for a recently finished
// session are dropped silently. Errors: ErrMessageTooLarge, ErrNotMember,
// ErrBadMessage, ErrDuplicate (dropped, session unaffected), ErrPendingFull.
func (e *Engine) Deliver(m Message) error {
	if len(m.Payload) > e.cfg.MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes from %q", ErrMessageTooLarge, len(m.Payload), m.From)
	}
	if m.From == "" {
		return fmt.Errorf("%w: empty sender", ErrNotMember)
	}
	e.mu.Lock()
	s := e.sessions[m.Session]
	if s == nil {
		defer e.mu.Unlock()
		if e.recent.has(m.Session) {
			return nil
		}
		return e.pending.add(time.Now(), m)
	}
	e.mu.Unlock()
	return s.accept(m)
}

// run registers s, feeds it held messages and drives it under the session
// deadline.
func (e *Engine) run(ctx context.Context, s *session) (any, error) {
	held, err := e.register(s)
	if err != nil {
		return nil, err
	}
	defer e.unregister(s)
	for _, m := range held {
		if err := s.accept(m); err != nil {
			s.log.Debug("dropped held message", "from", m.From, "err", err)
		}
	}
	timeout := e.cfg.SessionTimeout
	if s.timeout > 0 {
		timeout = s.timeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	s.log.Debug("session started", "members", s.w.members())
	r, err := s.run(ctx)
	if err != nil {
		s.log.Warn("session failed", "elapsed", time.Since(start), "err", err)
		return nil, err
	}
	s.log.Debug("session finished", "elapsed", time.Since(start))
	return r, nil
}

func (e *Engine) register(s *session) ([]Message, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.sessions[s.id]; ok || e.recent.has(s.id) {
		return nil, fmt.Errorf("%w: %s", ErrSessionExists, s.id)
	}
	if len(e.sessions) >= e.cfg.MaxSessions {
		return nil, ErrBusy
	}
	e.sessions[s.id] = s
	return e.pending.take(s.id), nil
}

func (e *Engine) unregister(s *session) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.sessions, s.id)
	e.recent.add(s.id)
	e.pending.drop(s.id)
}

// PendingDropped returns, per sender, how many messages for sessions not
// started yet were dropped because the sender was over its share of the
// pending buffer. Counts start at zero with the engine.
func (e *Engine) PendingDropped() map[string]uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pending.droppedBySender()
}

// Running reports how many sessions are in progress.
func (e *Engine) Running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.sessions)
}
