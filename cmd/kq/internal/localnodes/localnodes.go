// Package localnodes runs a development cluster on this machine for kq up:
// one kqd process per configured node, their logs kept per node and shown
// prefixed with the node id, and a clean stop for all of them.
package localnodes

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/keyquorum/keyquorum/node/config"
)

// stopWait bounds a node's clean shutdown before kq up kills it.
const stopWait = 10 * time.Second

// Proc is one running kqd.
type Proc struct {
	id     string
	cmd    *exec.Cmd
	exited chan struct{}
}

// ID is the node the process runs.
func (p *Proc) ID() string { return p.id }

// Exited is closed once the process has exited and its log is copied.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Start starts one kqd per node, copying each one's log lines to its
// log file and, prefixed with the node id, to out.
func Start(c *config.Cluster, configPath, kqd string, extra []string, out io.Writer) ([]*Proc, error) {
	logDir := filepath.Join(c.DataDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return nil, err
	}
	var mu sync.Mutex // one line at a time on out
	var procs []*Proc
	for _, id := range c.NodeIDs() {
		logf, err := os.OpenFile(filepath.Join(logDir, id+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			Stop(procs, out)
			return nil, err
		}
		cmd := exec.Command(kqd, append([]string{"--config", configPath, "--node", id}, extra...)...)
		pipe, err := cmd.StderrPipe()
		if err != nil {
			logf.Close()
			Stop(procs, out)
			return nil, err
		}
		cmd.Stdout = logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			Stop(procs, out)
			return nil, fmt.Errorf("start %s: %w (run `make build` first?)", kqd, err)
		}
		p := &Proc{id: id, cmd: cmd, exited: make(chan struct{})}
		go func() {
			sc := bufio.NewScanner(pipe)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				fmt.Fprintln(logf, sc.Text())
				mu.Lock()
				fmt.Fprintf(out, "[%s] %s\n", id, sc.Text())
				mu.Unlock()
			}
			err := cmd.Wait()
			logf.Close()
			mu.Lock()
			fmt.Fprintf(out, "[%s] kqd exited: %v\n", id, err)
			mu.Unlock()
			close(p.exited)
		}()
		procs = append(procs, p)
	}
	return procs, nil
}

// Stop sends SIGTERM to every node still running and waits for it,
// killing any that outlives stopWait.
func Stop(procs []*Proc, out io.Writer) {
	if len(procs) > 0 {
		fmt.Fprintln(out, "stopping nodes")
	}
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		select {
		case <-p.exited:
		case <-time.After(stopWait):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
}
