package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// ports hands out loopback ports that are free now and were not handed
// out before, to this cluster or to any other one running on the machine.
//
// A port is only probed, then released until its kqd, swtpm or proxy
// binds it. Without a record a later probe could return it again (or make
// it the control port of an swtpm pair), and so could a probe of another
// process: test packages run their clusters side by side, and a node
// killed by a nemesis leaves its ports unbound until it restarts. So each
// port handed out is also claimed for the whole machine by an exclusive
// flock on a file named after it; the claim lasts until release, or until
// the process dies, when the kernel drops the lock (a file left behind by
// a crash claims nothing).
type ports struct {
	given  map[int]bool
	claims []*os.File
}

// claimDir holds the claim files of every cluster on the machine.
func claimDir() string { return filepath.Join(os.TempDir(), "keyquorum-test-ports") }

// free returns n fresh ports.
func (p *ports) free(n int) ([]int, error) {
	var out []int
	for tries := 0; len(out) < n; tries++ {
		if tries > 100*n {
			return nil, errors.New("cluster: no free ports")
		}
		port, err := probe()
		if err != nil {
			return nil, err
		}
		if p.take(port) {
			out = append(out, port)
		}
	}
	return out, nil
}

// pair returns a fresh port p with p+1 also fresh, as swtpm needs.
func (p *ports) pair() (int, error) {
	for range 100 {
		port, err := probe()
		if err != nil {
			return 0, err
		}
		if p.given[port] || p.given[port+1] {
			continue
		}
		l, err := net.Listen("tcp", addr(port+1))
		if err != nil {
			continue
		}
		l.Close()
		if !p.take(port) {
			continue
		}
		if !p.take(port + 1) {
			continue // port stays taken: harmless, it is only skipped
		}
		return port, nil
	}
	return 0, errors.New("cluster: no free port pair")
}

// take records port as handed out, if no cluster of this or another
// process holds it.
func (p *ports) take(port int) bool {
	if p.given == nil {
		p.given = map[int]bool{}
	}
	if p.given[port] {
		return false
	}
	f, err := claim(port)
	if err != nil {
		return false
	}
	p.given[port] = true
	p.claims = append(p.claims, f)
	return true
}

// release gives up the machine-wide claims; the cluster's processes are
// gone by then.
func (p *ports) release() {
	for _, f := range p.claims {
		f.Close() // closing the file drops its lock
	}
	p.claims = nil
}

// claim locks port's claim file, or fails if another holder has it.
func claim(port int) (*os.File, error) {
	if err := os.MkdirAll(claimDir(), 0o777); err != nil {
		return nil, fmt.Errorf("cluster: port claims: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(claimDir(), strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, fmt.Errorf("cluster: port claims: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("cluster: port %d is claimed: %w", port, err)
	}
	return f, nil
}

// probe returns a port free right now, below Linux's ephemeral range
// (32768-60999): outgoing connections take their source ports from that
// range, and one could take the port of a killed node before it restarts.
func probe() (int, error) {
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", addr(port))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("cluster: no free port below the ephemeral range")
}
