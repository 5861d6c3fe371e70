package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// startSpinner shows "label |  12s" on w, redrawn in place, until the
// returned function is called; that clears the line. Only for terminals.
func startSpinner(w io.Writer, label string) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		frames := `|/-\`
		tick := time.NewTicker(150 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(w, "\r%s %c %s ", label, frames[i%len(frames)], time.Since(start).Truncate(time.Second))
			select {
			case <-done:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-tick.C:
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// withProgress runs fn while a spinner labelled label shows on stderr, if
// that is a terminal. The spinner is cleared before withProgress returns,
// so what the caller prints next is not overwritten.
func (o *options) withProgress(label string, fn func() error) error {
	if o.stderrTTY {
		stop := startSpinner(o.stderr, label)
		defer stop()
	}
	return fn()
}
