package node_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus/consensustest"
)

// TestUpStopsEveryNodeOnSIGTERM runs `kq up` as a supervisor would (make
// run, a service manager, a container runtime) and stops it with SIGTERM:
// every kqd it started must be gone when it exits, not left running
// without its parent.
func TestUpStopsEveryNodeOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cluster.yaml")
	if err := os.WriteFile(cfg, []byte(upConfig(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	up := exec.CommandContext(ctx, filepath.Join(binDir, "kq"), "--config", cfg, "up")
	stdout, err := up.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	up.Stderr = &logs
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	nodes := []int{}
	t.Cleanup(func() {
		for _, pid := range nodes {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if !found && strings.Contains(sc.Text(), "keyquorum is up") {
				found = true
				ready <- true
			}
		}
		if !found {
			ready <- false
		}
	}()
	if !<-ready {
		_ = up.Wait()
		t.Fatalf("kq up never reported ready; its log:\n%s", logs.String())
	}
	nodes = childrenOf(t, up.Process.Pid)
	if len(nodes) != 3 {
		t.Fatalf("kq up runs %d child processes, want 3 kqd: %v", len(nodes), nodes)
	}

	if err := up.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := up.Wait(); err != nil {
		t.Fatalf("kq up after SIGTERM: %v; its log:\n%s", err, logs.String())
	}
	for _, pid := range nodes {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("kqd (pid %d) still runs after kq up exited on SIGTERM", pid)
		}
	}
	if !strings.Contains(logs.String(), "stopping nodes") {
		t.Errorf("kq up did not stop its nodes itself; its log:\n%s", logs.String())
	}
}

// upConfig is the development configuration on free loopback ports, with
// the pre-parameter fixtures so the cluster is ready at once.
func upConfig(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "cluster_id: kq-up-test\ndata_dir: data\nthreshold: 1\n")
	fmt.Fprintf(&b, "tpm:\n  backend: simulator\npreparams:\n  source: fixtures\n  fixtures_dir: %s\n", fixturesDir(t))
	b.WriteString("presign:\n  pool: 0\nnodes:\n")
	addrs := consensustest.FreeAddrs(t, 9)
	for i := range 3 {
		fmt.Fprintf(&b, "  - id: n%d\n    raft: %s\n    peer: %s\n    client: %s\n", i+1, addrs[3*i], addrs[3*i+1], addrs[3*i+2])
	}
	return b.String()
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name in parentheses may hold spaces; fields after
		// it are state, then parent pid.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		f := strings.Fields(rest)
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}
