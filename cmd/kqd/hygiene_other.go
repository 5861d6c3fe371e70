//go:build !linux

package main

import "log/slog"

// hardenProcess has nothing to set outside Linux; it says so once, so an
// operator reading the log knows core dumps are governed by the host.
func hardenProcess(log *slog.Logger) error {
	log.Warn("process hardening (no core dumps, not dumpable) is implemented for Linux only")
	return nil
}
