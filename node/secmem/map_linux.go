//go:build linux

package secmem

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mapSecret maps at least n bytes of anonymous memory (whole pages), marks
// it MADV_DONTDUMP and tries to mlock it. It returns heap memory and the
// error when the mapping itself fails, and locked = false when only mlock
// does (RLIMIT_MEMLOCK is small for unprivileged users).
func mapSecret(n int) (b []byte, locked bool, err error) {
	page := os.Getpagesize()
	size := (n + page - 1) / page * page
	b, err = unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return make([]byte, n), false, fmt.Errorf("mmap %d bytes: %w", size, err)
	}
	if err := unix.Madvise(b, unix.MADV_DONTDUMP); err != nil {
		_ = unix.Munmap(b)
		return make([]byte, n), false, fmt.Errorf("madvise MADV_DONTDUMP: %w", err)
	}
	// MADV_WIPEONFORK would also keep the pages out of a forked child, but
	// kqd never forks without exec, so it is not worth a second failure mode.
	return b, unix.Mlock(b) == nil, nil
}
