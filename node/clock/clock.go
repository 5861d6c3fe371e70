// Package clock is the wall clock of a keyquorum node. Every wall-time read
// that reaches replicated state (entry timestamps, and later handle expiry
// and ceremony deadlines) goes through a Clock, so a fault-injection harness
// can skew one node's clock: Go's monotonic timers ignore changes to the
// system clock, so skewing the OS clock would test nothing.
package clock

import (
	"fmt"
	"sync"
	"time"
)

// Clock tells wall time.
type Clock interface {
	Now() time.Time
}

// System is the operating system's clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// Skewed is a clock that a harness can bump, speed up or slow down, and
// strobe. Its zero value is not usable; call NewSkewed. Safe for concurrent use.
type Skewed struct {
	base func() time.Time

	mu     sync.Mutex
	anchor time.Time     // real time when rate last changed
	offset time.Duration // skew at anchor
	rate   float64       // skewed seconds per real second since anchor
	strobe *strobe
}

type strobe struct {
	delta  time.Duration
	period time.Duration
	until  time.Time
}

// NewSkewed returns a clock that reads base (time.Now when nil) with no skew.
func NewSkewed(base func() time.Time) *Skewed {
	if base == nil {
		base = time.Now
	}
	return &Skewed{base: base, anchor: base(), rate: 1}
}

// Now returns the skewed time.
func (s *Skewed) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	real := s.base()
	t := real.Add(s.skewAt(real))
	if st := s.strobe; st != nil && real.Before(st.until) {
		// Alternate between +delta and 0 every period: time jumps back and
		// forth, as a misbehaving NTP client would make it.
		if (real.UnixNano()/int64(st.period))%2 == 1 {
			t = t.Add(st.delta)
		}
	}
	return t
}

func (s *Skewed) skewAt(real time.Time) time.Duration {
	elapsed := real.Sub(s.anchor)
	return s.offset + time.Duration(float64(elapsed)*(s.rate-1))
}

// Bump moves the clock by d, forward or back.
func (s *Skewed) Bump(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reanchor()
	s.offset += d
}

// SetRate makes the clock run rate times as fast as real time (1 is normal).
func (s *Skewed) SetRate(rate float64) error {
	if rate <= 0 || rate > 100 {
		return fmt.Errorf("clock: rate %v out of (0, 100]", rate)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reanchor()
	s.rate = rate
	return nil
}

// Strobe makes the clock jump by delta and back every period, for a while.
func (s *Skewed) Strobe(delta, period, duration time.Duration) error {
	if period <= 0 || duration <= 0 {
		return fmt.Errorf("clock: strobe period and duration must be positive")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.strobe = &strobe{delta: delta, period: period, until: s.base().Add(duration)}
	return nil
}

// Reset removes every skew.
func (s *Skewed) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.anchor, s.offset, s.rate, s.strobe = s.base(), 0, 1, nil
}

// State reports the current skew, for the admin endpoint.
func (s *Skewed) State() (offset time.Duration, rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skewAt(s.base()), s.rate
}

// reanchor folds the drift so far into offset, so a rate change applies
// from now on only.
func (s *Skewed) reanchor() {
	now := s.base()
	s.offset = s.skewAt(now)
	s.anchor = now
}
