package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
)

// AddNode prepares one more node, n<N+1>, for a membership change: fresh
// ports, appended to cluster.yaml (which kq reads; running nodes never
// reread it, as on real machines where only kq's and the new node's copies
// name it), and its certificate minted by `kq certs init`. StartNode then
// starts it with --join. It returns the new node's id.
func (c *Cluster) AddNode(ctx context.Context) (string, error) {
	n := &node{id: fmt.Sprintf("n%d", len(c.order)+1), join: true}
	ports, err := c.ports.free(3)
	if err != nil {
		return "", err
	}
	n.raft, n.peer, n.client = addr(ports[0]), addr(ports[1]), addr(ports[2])
	if c.opts.Backend == "swtpm" {
		if n.tpmPort, err = c.ports.pair(); err != nil {
			return "", err
		}
	}
	n.logPath = filepath.Join(c.opts.Dir, "logs", n.id+".log")
	n.swtpmLog = filepath.Join(c.opts.Dir, "logs", n.id+".swtpm.log")
	c.nodes[n.id] = n
	c.order = append(c.order, n.id)
	if err := os.WriteFile(c.ConfigPath, []byte(c.config()), 0o644); err != nil {
		return "", err
	}
	if out, err := c.KQ(ctx, "certs", "init"); err != nil {
		return "", fmt.Errorf("cluster: certs init for %s: %w: %s", n.id, err, out)
	}
	return n.id, nil
}
