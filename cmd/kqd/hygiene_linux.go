//go:build linux

package main

import (
	"fmt"
	"log/slog"

	"golang.org/x/sys/unix"
)

// hardenProcess keeps secrets out of crash artefacts. RLIMIT_CORE = 0 stops
// the kernel writing a core file; PR_SET_DUMPABLE = 0 stops it too (to a
// file or a pipe, unless fs.suid_dumpable is 2) and also refuses ptrace
// attach by other processes of the same user and makes /proc/<pid>/mem
// root-only. Either alone would do for cores; both are set because an
// operator's wrapper may raise the limit again. A crash under
// GOTRACEBACK=crash then prints goroutine stacks but leaves no memory image.
func hardenProcess(log *slog.Logger) error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		return fmt.Errorf("set RLIMIT_CORE to 0: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_DUMPABLE 0: %w", err)
	}
	log.Info("process hardened: core dumps off (RLIMIT_CORE=0), not dumpable (PR_SET_DUMPABLE=0)")
	return nil
}
