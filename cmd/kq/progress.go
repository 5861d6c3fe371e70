package main

import (
	"time"

	"github.com/keyquorum/keyquorum/cmd/internal/progress"
)

// heartbeat is how often a long operation says it is still running when
// stderr is not a terminal.
const heartbeat = 10 * time.Second

// withProgress runs fn, an operation of unknown length (keygen, refresh,
// reshare), while stderr shows it: a spinner and the time spent, redrawn
// in place in a terminal, cleared before withProgress returns so what the
// caller prints next starts clean; elsewhere a "kq: LABEL: 10s" line every
// heartbeat.
func (o *options) withProgress(label string, fn func() error) error {
	p := progress.Start(o.stderr, o.stderrTTY, "kq: "+label, 0, heartbeat)
	defer p.Stop()
	return fn()
}
