package clock

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

type fakeBase struct{ t time.Time }

func (f *fakeBase) now() time.Time { return f.t }

func TestSkewedBumpRateStrobeReset(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &fakeBase{t: start}
	s := NewSkewed(b.now)
	if !s.Now().Equal(start) {
		t.Fatalf("unskewed clock reads %v", s.Now())
	}
	s.Bump(-5 * time.Minute)
	if got := s.Now(); !got.Equal(start.Add(-5 * time.Minute)) {
		t.Fatalf("after bump: %v", got)
	}
	if err := s.SetRate(2); err != nil {
		t.Fatal(err)
	}
	b.t = b.t.Add(10 * time.Second)
	if got := s.Now(); !got.Equal(start.Add(-5*time.Minute + 20*time.Second)) {
		t.Fatalf("at rate 2 after 10s real: %v", got.Sub(start))
	}
	if err := s.SetRate(0); err == nil {
		t.Fatal("rate 0 accepted")
	}
	s.Reset()
	if !s.Now().Equal(b.t) {
		t.Fatalf("after reset: %v, want %v", s.Now(), b.t)
	}
	if err := s.Strobe(time.Hour, time.Second, time.Minute); err != nil {
		t.Fatal(err)
	}
	seen := map[time.Duration]bool{}
	for range 4 {
		b.t = b.t.Add(time.Second)
		seen[s.Now().Sub(b.t)] = true
	}
	if !seen[0] || !seen[time.Hour] {
		t.Fatalf("strobe offsets seen: %v", seen)
	}
	b.t = b.t.Add(2 * time.Minute)
	if s.Now().Sub(b.t) != 0 {
		t.Fatal("strobe outlived its duration")
	}
}

func TestAdminEndpointBumpsAndRejectsBadInput(t *testing.T) {
	s := NewSkewed(nil)
	srv := httptest.NewServer(AdminHandler(s))
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/clock/bump?by=3m", "", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("bump: %v %v", resp, err)
	}
	if off, _ := s.State(); off < 3*time.Minute || off > 3*time.Minute+time.Second {
		t.Fatalf("offset after bump: %v", off)
	}
	resp, err = http.Post(srv.URL+"/clock/rate?rate=abc", "", nil)
	if err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("bad rate: %v %v", resp, err)
	}
	if CheckLoopback("127.0.0.1:9") != nil || CheckLoopback("0.0.0.0:9") == nil || CheckLoopback("10.1.2.3:9") == nil {
		t.Fatal("CheckLoopback")
	}
}
