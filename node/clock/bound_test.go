package clock_test

import (
	"errors"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/node/clock"
)

// fixed is a clock that always reads the same instant.
type fixed time.Time

func (f fixed) Now() time.Time { return time.Time(f) }

func TestBoundRule(t *testing.T) {
	const max = 500 * time.Millisecond
	start := time.Unix(1_700_000_000, 0)
	three := []string{"n1", "n2", "n3"}
	five := []string{"n1", "n2", "n3", "n4", "n5"}
	type peer struct {
		offset, unc, age time.Duration
	}
	for _, tc := range []struct {
		name    string
		members []string
		peers   map[string]peer
		want    error // nil, ErrUnconfirmed or ErrOffset
		offset  time.Duration
	}{
		{"all agree", three, map[string]peer{"n2": {offset: 10 * time.Millisecond}, "n3": {offset: -20 * time.Millisecond}}, nil, 0},
		{"one follower far ahead", three, map[string]peer{"n2": {offset: 10 * time.Minute}, "n3": {}}, nil, 0},
		{"this clock 10 minutes ahead", three, map[string]peer{"n2": {offset: -10 * time.Minute}, "n3": {offset: -10*time.Minute + time.Millisecond}}, clock.ErrOffset, 10*time.Minute - time.Millisecond},
		{"this clock 10 minutes behind", three, map[string]peer{"n2": {offset: 10 * time.Minute}, "n3": {offset: 10 * time.Minute}}, clock.ErrOffset, -10 * time.Minute},
		{"one peer read and it agrees", three, map[string]peer{"n2": {offset: 100 * time.Millisecond}}, nil, 0},
		{"one peer read and it disagrees: cannot tell who is wrong", three, map[string]peer{"n2": {offset: time.Hour}}, clock.ErrUnconfirmed, 0},
		{"no peer read", three, nil, clock.ErrUnconfirmed, 0},
		{"stale readings do not count", three, map[string]peer{"n2": {age: 3 * time.Second}, "n3": {age: 3 * time.Second}}, clock.ErrUnconfirmed, 0},
		{"agreement must hold at the edge of the uncertainty", three,
			map[string]peer{"n2": {offset: 450 * time.Millisecond, unc: 100 * time.Millisecond}, "n3": {offset: -450 * time.Millisecond, unc: 100 * time.Millisecond}},
			clock.ErrUnconfirmed, 0},
		{"just within the bound", three, map[string]peer{"n2": {offset: 400 * time.Millisecond, unc: 100 * time.Millisecond}}, nil, 0},
		{"five: two peers agree, two are far off", five,
			map[string]peer{"n2": {}, "n3": {}, "n4": {offset: time.Hour}, "n5": {offset: -time.Hour}}, nil, 0},
		{"five: three peers say this clock is ahead", five,
			map[string]peer{"n2": {offset: -time.Minute}, "n3": {offset: -time.Minute}, "n4": {offset: -time.Minute}, "n5": {}}, clock.ErrOffset, time.Minute},
		{"a reading of a non-member is ignored", three, map[string]peer{"n9": {}, "n2": {offset: time.Hour}}, clock.ErrUnconfirmed, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mono := start.Add(10 * time.Second)
			b, err := clock.NewBound(fixed(start), max, 2*time.Second, func() time.Time { return mono })
			if err != nil {
				t.Fatal(err)
			}
			for id, p := range tc.peers {
				// Read p.age ago, when the member's clock was p.offset ahead.
				b.Observe(id, clock.Reading{Remote: start.Add(p.offset - p.age), Uncertainty: p.unc, Taken: mono.Add(-p.age)})
			}
			now, err := b.Now("n1", tc.members)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("Now: %v, want the local time", err)
			case tc.want == nil && !now.Equal(start):
				t.Fatalf("Now = %v, want %v", now, start)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("Now: err %v, want %v", err, tc.want)
			}
			if tc.offset != 0 {
				if v := b.View("n1", tc.members); v.Offset != tc.offset {
					t.Fatalf("offset from the median = %s, want %s", v.Offset, tc.offset)
				}
			}
		})
	}
}

func TestBoundRefusesBadSettings(t *testing.T) {
	for _, tc := range []struct{ max, age time.Duration }{{0, time.Second}, {time.Second, 0}, {-time.Second, time.Second}} {
		if _, err := clock.NewBound(clock.System{}, tc.max, tc.age, nil); err == nil {
			t.Errorf("NewBound(max %s, age %s) accepted", tc.max, tc.age)
		}
	}
	if _, err := clock.NewBound(nil, time.Second, time.Second, nil); err == nil {
		t.Error("NewBound without a clock accepted")
	}
}

func TestBoundForget(t *testing.T) {
	b, err := clock.NewBound(clock.System{}, time.Second, time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Observe("n2", clock.Reading{Remote: time.Now(), Taken: time.Now()})
	if _, err := b.Now("n1", []string{"n1", "n2", "n3"}); err != nil {
		t.Fatalf("with n2 read: %v", err)
	}
	b.Forget("n2")
	if _, err := b.Now("n1", []string{"n1", "n2", "n3"}); !errors.Is(err, clock.ErrUnconfirmed) {
		t.Fatalf("after forgetting n2: %v, want ErrUnconfirmed", err)
	}
}

// TestBoundSeesOwnJumpAtOnce: readings taken before this clock jumped must
// not vouch for it afterwards. The leader whose clock jumps a day ahead
// right after a probe round must refuse to stamp at once, not when the
// next round's readings arrive.
func TestBoundSeesOwnJumpAtOnce(t *testing.T) {
	real := time.Unix(1_700_000_000, 0)
	local := clock.NewSkewed(func() time.Time { return real })
	b, err := clock.NewBound(local, 500*time.Millisecond, 2*time.Second, func() time.Time { return real })
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"n2", "n3"} {
		b.Observe(id, clock.Reading{Remote: real, Taken: real})
	}
	members := []string{"n1", "n2", "n3"}
	if _, err := b.Now("n1", members); err != nil {
		t.Fatalf("before the jump: %v", err)
	}
	local.Bump(25 * time.Hour)
	if _, err := b.Now("n1", members); !errors.Is(err, clock.ErrOffset) {
		t.Fatalf("right after a 25 h jump: %v, want ErrOffset", err)
	}
	// Time passing on every clock alike keeps agreement.
	local.Bump(-25 * time.Hour)
	real = real.Add(time.Second)
	if now, err := b.Now("n1", members); err != nil || !now.Equal(real) {
		t.Fatalf("a second later, no skew: %v, %v", now, err)
	}
}
