package sealing

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// swtpmProc is one swtpm process serving a state directory on loopback.
type swtpmProc struct {
	t        testing.TB
	stateDir string
	addr     string
	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has exited
}

// startSWTPM starts swtpm on a free loopback port pair over stateDir and
// stops it when the test ends. The project's make targets install swtpm;
// its absence is a failed prerequisite, not a reason to skip.
func startSWTPM(t testing.TB, stateDir string) *swtpmProc {
	t.Helper()
	if _, err := exec.LookPath("swtpm"); err != nil {
		t.Fatalf("swtpm not found in PATH (run `make deps`, which installs swtpm and swtpm-tools): %v", err)
	}
	p := &swtpmProc{t: t, stateDir: stateDir}
	p.start()
	t.Cleanup(p.kill)
	return p
}

func (p *swtpmProc) start() {
	p.t.Helper()
	var lastErr error
	for range 5 {
		port, err := freePortPair()
		if err != nil {
			lastErr = err
			continue
		}
		p.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		cmd := exec.Command("swtpm", "socket", "--tpm2",
			"--tpmstate", "dir="+p.stateDir,
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port+1),
			"--flags", "not-need-init,startup-clear")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			p.t.Fatalf("start swtpm: %v", err)
		}
		p.cmd, p.done = cmd, make(chan struct{})
		go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(p.done)
		if lastErr = p.waitListening(); lastErr == nil {
			return
		}
		p.kill()
	}
	p.t.Fatalf("start swtpm: %v", lastErr)
}

func (p *swtpmProc) waitListening() error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("swtpm on %s exited early", p.addr)
		default:
		}
		if c, err := net.DialTimeout("tcp", p.addr, 100*time.Millisecond); err == nil {
			_ = c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("swtpm did not listen on %s", p.addr)
}

// kill stops swtpm with SIGKILL, as a crash would, and waits for it to exit
// (releasing its ports and state-dir lock); the state dir survives.
func (p *swtpmProc) kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	p.cmd = nil
}

func (p *swtpmProc) restart() {
	p.t.Helper()
	p.kill()
	p.start()
}

func (p *swtpmProc) config(dir string) Config {
	cfg := DefaultConfig(dir)
	cfg.Backend = BackendSWTPM
	cfg.Address = p.addr
	return cfg
}

// freePortPair finds a port P with P and P+1 both free on loopback.
func freePortPair() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if port >= 65535 {
			continue
		}
		l2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+1)))
		if err != nil {
			continue
		}
		_ = l2.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port pair on 127.0.0.1")
}
