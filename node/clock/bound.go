package clock

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Errors of Bound.Now. Both mean this node must not stamp an entry now.
var (
	// ErrUnconfirmed is returned when fewer than a quorum of members'
	// clocks (this one included) were read lately and agree with this one,
	// but not a quorum disagrees either: nothing says whether this clock
	// is right or wrong.
	ErrUnconfirmed = errors.New("clock: too few fresh readings of members' clocks to confirm this clock")
	// ErrOffset is returned when the clocks of a quorum of members
	// disagree with this one by more than the maximum offset and it is that
	// far from their median: this clock is the wrong one, and a leader
	// holding it must step down.
	ErrOffset = errors.New("clock: this clock disagrees with a quorum of members' clocks")
)

// Reading is one member's clock as another member measured it.
type Reading struct {
	// Remote is the member's clock at the midpoint of the probe's round
	// trip.
	Remote time.Time
	// Uncertainty bounds the estimate's error: half the round trip.
	Uncertainty time.Duration
	// Taken is that midpoint on the reader's monotonic clock. The member's
	// clock now is estimated as Remote plus the monotonic time since, so
	// that a jump of the reader's own clock shows at once, not only at the
	// next probe.
	Taken time.Time
	_     struct{}
}

// Bound decides whether this member's clock may stamp replicated time: the
// rule of a maximum clock offset, after CockroachDB's. A member stamps only
// while its clock agrees, within MaxOffset, with the clocks of a quorum of
// members (itself included), each read less than MaxAge ago; the agreement
// must hold even at the edge of each reading's uncertainty.
//
// The guarantee: if fewer than a quorum of members' clocks are wrong by
// more than some e, every time stamped lies within MaxOffset + e of true
// time, because any quorum the stamper agreed with holds at least one
// correct clock. A leader whose clock jumps ahead therefore cannot move
// replicated time past a quorum's (handles do not expire early, a destroy
// window is not skipped), and one whose clock lags cannot freeze it.
//
// Safe for concurrent use.
type Bound struct {
	local     Clock
	monotonic func() time.Time
	maxOffset time.Duration
	maxAge    time.Duration

	mu       sync.Mutex
	readings map[string]Reading
}

// NewBound returns a Bound over local. monotonic tells the age of readings
// and is time.Now when nil; only its monotonic part is used.
func NewBound(local Clock, maxOffset, maxAge time.Duration, monotonic func() time.Time) (*Bound, error) {
	if local == nil || maxOffset <= 0 || maxAge <= 0 {
		return nil, fmt.Errorf("clock: bound needs a clock and positive max offset (%s) and max age (%s)", maxOffset, maxAge)
	}
	if monotonic == nil {
		monotonic = time.Now
	}
	return &Bound{local: local, monotonic: monotonic, maxOffset: maxOffset, maxAge: maxAge, readings: map[string]Reading{}}, nil
}

// MaxOffset is the largest offset from a quorum's clocks that still stamps.
func (b *Bound) MaxOffset() time.Duration { return b.maxOffset }

// Observe records a reading of member id's clock. It keeps the previous
// one instead while that is less than half MaxAge old and more precise: a
// probe slowed by load says less about the offset than a quick one taken
// just before (NTP's minimum-delay filter; the offset is carried forward
// on the monotonic clock either way).
func (b *Bound) Observe(id string, r Reading) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old, ok := b.readings[id]; ok && old.Uncertainty < r.Uncertainty && r.Taken.Sub(old.Taken) < b.maxAge/2 {
		return
	}
	b.readings[id] = r
}

// Forget drops member id's reading (it left the membership).
func (b *Bound) Forget(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.readings, id)
}

// Now returns this member's clock when it may stamp an entry for a group
// of the given members (self among them), or ErrUnconfirmed or ErrOffset.
func (b *Bound) Now(self string, members []string) (time.Time, error) {
	// Every stamped request passes here: no per-peer map.
	v := b.view(self, members, false)
	return v.Local, v.Err
}

// View is what Bound knows of the clocks of one membership.
type View struct {
	// Offset is this member's clock minus the median of the fresh readings
	// (its own clock counted as offset zero).
	Offset time.Duration
	// Fresh and Agree count members with a fresh reading and those whose
	// clock agrees with this one, both counting this member itself.
	Fresh, Agree, Quorum int
	// Peers holds each fresh member's clock minus this one, now.
	Peers map[string]time.Duration
	// Local is this member's clock when the view was taken; the time to
	// stamp when Err is nil.
	Local time.Time
	// Err is nil when this member may stamp, else ErrUnconfirmed or
	// ErrOffset wrapped with the counts.
	Err error
}

// View evaluates the rule for members (self among them).
func (b *Bound) View(self string, members []string) View { return b.view(self, members, true) }

func (b *Bound) view(self string, members []string, peers bool) View {
	mono, local := b.monotonic(), b.local.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	v := View{Fresh: 1, Agree: 1, Quorum: len(members)/2 + 1, Local: local}
	if peers {
		v.Peers = map[string]time.Duration{}
	}
	offsets := []time.Duration{0}
	for _, id := range members {
		r, ok := b.readings[id]
		age := mono.Sub(r.Taken)
		if id == self || !ok || age > b.maxAge {
			continue
		}
		off := r.Remote.Add(age).Sub(local)
		if peers {
			v.Peers[id] = off
		}
		v.Fresh++
		offsets = append(offsets, off)
		if off.Abs()+r.Uncertainty <= b.maxOffset {
			v.Agree++
		}
	}
	slices.Sort(offsets)
	// Our clock minus the others': the readings are theirs minus ours.
	v.Offset = -offsets[(len(offsets)-1)/2]
	switch {
	case v.Agree >= v.Quorum:
	case v.Fresh-v.Agree >= v.Quorum && v.Offset.Abs() > b.maxOffset:
		// A quorum of clocks disagrees with this one, fewer than a quorum
		// are wrong, and this one is far from their median: it is wrong.
		v.Err = fmt.Errorf("%w: %d of %d read disagree by more than %s; offset from their median %s",
			ErrOffset, v.Fresh-v.Agree, v.Fresh, b.maxOffset, v.Offset)
	default:
		// Too few readings, or nothing to tell which clock is wrong (two
		// members that disagree, the third unread; or this clock at the
		// median of others that disagree among themselves).
		v.Err = fmt.Errorf("%w: %d of %d members read, %d agree, %d needed", ErrUnconfirmed, v.Fresh, len(members), v.Agree, v.Quorum)
	}
	return v
}
