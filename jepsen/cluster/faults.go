package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// ErrNoLeader is returned by Leader when the running nodes do not agree on
// a leader.
var ErrNoLeader = errors.New("cluster: no agreed leader")

// ErrExited is returned by WaitReady when a node's kqd exited without the
// cluster stopping or killing it.
var ErrExited = errors.New("cluster: kqd exited")

// exited returns ErrExited, with the last line of the node's log, when the
// node's kqd has exited on its own.
func (c *Cluster) exited(id string) error {
	n := c.nodes[id]
	if n.kqd == nil {
		return nil
	}
	select {
	case <-n.exited:
	default:
		return nil
	}
	last := ""
	if data, err := os.ReadFile(n.logPath); err == nil {
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		last = lines[len(lines)-1]
	}
	return fmt.Errorf("%w: %s: %s", ErrExited, id, last)
}

// PID is the process id of the node's kqd, 0 when it is not started.
func (c *Cluster) PID(id string) int {
	n := c.nodes[id]
	if n.kqd == nil {
		return 0
	}
	return n.kqd.Process.Pid
}

// AdminAddr is the node's clock fault endpoint ("" without
// Options.FaultAdmin).
func (c *Cluster) AdminAddr(id string) string { return c.nodes[id].admin }

// Running reports whether the node's kqd is started and not paused.
func (c *Cluster) Running(id string) bool {
	n := c.nodes[id]
	return n.kqd != nil && !n.paused
}

// Pause stops the node's kqd with SIGSTOP: its sockets stay open and its
// peers see it hang, as during a long GC pause or a frozen VM.
func (c *Cluster) Pause(id string) error {
	n := c.nodes[id]
	if n.kqd == nil || n.paused {
		return nil
	}
	if err := n.kqd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("cluster: pause %s: %w", id, err)
	}
	n.paused = true
	return nil
}

// Resume continues a paused node with SIGCONT.
func (c *Cluster) Resume(id string) error {
	n := c.nodes[id]
	if n.kqd == nil || !n.paused {
		return nil
	}
	if err := n.kqd.Process.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("cluster: resume %s: %w", id, err)
	}
	n.paused = false
	return nil
}

// Status asks one node for its status, with a short deadline.
func (c *Cluster) Status(ctx context.Context, id string) (*kqpb.StatusResponse, error) {
	op, err := c.Operator(id)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := op.Status(ctx, &kqpb.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("cluster: status of %s: %w", id, err)
	}
	return st, nil
}

// Leader returns the leader that every running node names.
func (c *Cluster) Leader(ctx context.Context) (string, error) {
	leader := ""
	for _, id := range c.order {
		if !c.Running(id) {
			continue
		}
		st, err := c.Status(ctx, id)
		if err != nil {
			return "", err
		}
		if st.LeaderId == "" || (leader != "" && st.LeaderId != leader) {
			return "", fmt.Errorf("%w: %s names %q", ErrNoLeader, id, st.LeaderId)
		}
		leader = st.LeaderId
	}
	if leader == "" {
		return "", ErrNoLeader
	}
	return leader, nil
}
