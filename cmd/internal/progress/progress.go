// Package progress shows how far a long operation of the command-line
// tools is: in a terminal, one line redrawn in place (a bar with the time
// left when the length is known, a spinner and the time spent when it is
// not); elsewhere, a plain line now and then, so a log or CI output gets a
// heartbeat without carriage returns.
package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

const (
	redrawEvery = 200 * time.Millisecond
	barWidth    = 24
)

// Indicator is one operation's progress line. Its methods are safe for
// concurrent use; Stop must be called once.
type Indicator struct {
	w     io.Writer
	tty   bool
	label string
	total time.Duration // 0: unknown
	every time.Duration // between plain lines
	start time.Time
	now   func() time.Time

	mu   sync.Mutex
	note string
	done chan struct{}
	wg   sync.WaitGroup
}

// Start shows label's progress on w until Stop. total is the expected
// length (0 when unknown); tty says whether w is a terminal; every is the
// time between plain lines when it is not (0: none).
func Start(w io.Writer, tty bool, label string, total, every time.Duration) *Indicator {
	p := &Indicator{w: w, tty: tty, label: label, total: total, every: every, start: time.Now(), now: time.Now, done: make(chan struct{})}
	tick := every
	if tty {
		tick = redrawEvery
	}
	if tick <= 0 {
		return p
	}
	p.wg.Go(func() {
		t := time.NewTicker(tick)
		defer t.Stop()
		for frame := 0; ; frame++ {
			if tty {
				p.draw(frame)
			}
			select {
			case <-p.done:
				return
			case <-t.C:
			}
			if !tty {
				p.line()
			}
		}
	})
	return p
}

// Note sets the text shown after the bar (a count, a phase).
func (p *Indicator) Note(s string) {
	p.mu.Lock()
	p.note = s
	p.mu.Unlock()
}

// Println writes a line of the operation's own output above the progress
// line, which is redrawn after it.
func (p *Indicator) Println(w io.Writer, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintln(w, line)
}

// Stop ends the display and clears the terminal line, so what the caller
// prints next starts clean.
func (p *Indicator) Stop() {
	close(p.done)
	p.wg.Wait()
	if p.tty {
		p.mu.Lock()
		fmt.Fprint(p.w, "\r\033[K")
		p.mu.Unlock()
	}
}

// draw redraws the terminal line.
func (p *Indicator) draw(frame int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[K%s", Render(p.label, p.now().Sub(p.start), p.total, frame, p.note))
}

// line writes one plain line.
func (p *Indicator) line() {
	p.mu.Lock()
	defer p.mu.Unlock()
	el := p.now().Sub(p.start)
	s := fmt.Sprintf("%s: %s", p.label, el.Truncate(time.Second))
	if p.total > 0 {
		s += fmt.Sprintf(" of %s (%d%%), %s left", p.total, percent(el, p.total), left(el, p.total))
	}
	if p.note != "" {
		s += ", " + p.note
	}
	fmt.Fprintln(p.w, s)
}

// Render is one terminal frame: with a known total, a bar, the percentage,
// the time spent of the total and the time left; without, a spinner and
// the time spent.
func Render(label string, elapsed, total time.Duration, frame int, note string) string {
	var b strings.Builder
	b.WriteString(label)
	if total > 0 {
		filled := int(int64(barWidth) * int64(min(elapsed, total)) / int64(total))
		fmt.Fprintf(&b, " [%s%s] %3d%% %s/%s ETA %s", strings.Repeat("#", filled), strings.Repeat("-", barWidth-filled),
			percent(elapsed, total), elapsed.Truncate(time.Second), total, left(elapsed, total))
	} else {
		fmt.Fprintf(&b, " %c %s", `|/-\`[frame%4], elapsed.Truncate(time.Second))
	}
	if note != "" {
		b.WriteString("  " + note)
	}
	return b.String()
}

func percent(elapsed, total time.Duration) int { return int(100 * min(elapsed, total) / total) }

func left(elapsed, total time.Duration) time.Duration {
	return max(total-elapsed, 0).Round(time.Second)
}

// IsTerminal reports whether w is a character device (a terminal), where
// a progress line can be redrawn in place.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
