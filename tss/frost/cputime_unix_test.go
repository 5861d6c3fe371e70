//go:build unix

package frost_test

import (
	"syscall"
	"time"
)

// processCPU returns the process's user plus system CPU time. Benchmarks
// report it per operation beside wall time, because on a shared machine
// wall time also counts the time spent waiting for a core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
