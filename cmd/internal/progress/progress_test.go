package progress

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRender(t *testing.T) {
	for _, c := range []struct {
		elapsed, total time.Duration
		frame          int
		note, want     string
	}{
		{0, time.Minute, 0, "", "run [------------------------]   0% 0s/1m0s ETA 1m0s"},
		{15 * time.Second, time.Minute, 0, "ops=40", "run [######------------------]  25% 15s/1m0s ETA 45s  ops=40"},
		{90 * time.Second, time.Minute, 0, "", "run [########################] 100% 1m30s/1m0s ETA 0s"},
		{1500 * time.Millisecond, 0, 1, "", "run / 1s"},
		{12 * time.Second, 0, 6, "n2", "run - 12s  n2"},
	} {
		if got := Render("run", c.elapsed, c.total, c.frame, c.note); got != c.want {
			t.Errorf("Render(%v, %v) = %q, want %q", c.elapsed, c.total, got, c.want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the indicator's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Not a terminal: plain lines, no carriage returns or escapes; a terminal:
// frames redrawn in place and the line cleared at Stop.
func TestPlainAndTerminal(t *testing.T) {
	var plain syncBuffer
	p := Start(&plain, false, "traffic", time.Hour, 10*time.Millisecond)
	p.Note("ops=3")
	for !strings.Contains(plain.String(), "\n") {
		time.Sleep(5 * time.Millisecond)
	}
	p.Stop()
	out := plain.String()
	if strings.ContainsAny(out, "\r\033") || !strings.HasPrefix(out, "traffic: ") || !strings.Contains(out, " of 1h0m0s (") {
		t.Errorf("plain output %q", out)
	}

	var term syncBuffer
	p = Start(&term, true, "keygen", 0, 0)
	for !strings.Contains(term.String(), "keygen |") {
		time.Sleep(5 * time.Millisecond)
	}
	var log bytes.Buffer
	p.Println(&log, "an event")
	p.Stop()
	if out := term.String(); !strings.HasPrefix(out, "\r\033[Kkeygen | 0s") || !strings.HasSuffix(out, "\r\033[K") || log.String() != "an event\n" {
		t.Errorf("terminal output %q, log %q", out, log.String())
	}
}
