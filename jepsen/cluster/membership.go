package cluster

import (
	"context"
	"fmt"
	"os"
	"slices"
)

// AddNode prepares one more node for a membership change: a spare
// (Options.Spares) if one is left, else n<N> with fresh ports (and no
// proxies). It is appended to cluster.yaml (which kq reads; running nodes
// never reread it, as on real machines where only kq's and the new node's
// copies name it), and its certificate minted by `kq certs init`.
// StartNode then starts it with --join. It returns the new node's id.
func (c *Cluster) AddNode(ctx context.Context) (string, error) {
	var n *node
	if len(c.spares) > 0 {
		n = c.nodes[c.spares[0]]
		c.spares = c.spares[1:]
	} else {
		var err error
		if n, err = c.newNode(fmt.Sprintf("n%d", len(c.nodes)+1)); err != nil {
			return "", err
		}
		n.join = true
	}
	c.mu.Lock()
	c.order = append(c.order, n.id)
	c.mu.Unlock()
	if err := os.WriteFile(c.ConfigPath, []byte(c.config()), 0o644); err != nil {
		return "", err
	}
	if out, err := c.KQ(ctx, "certs", "init"); err != nil {
		return "", fmt.Errorf("cluster: certs init for %s: %w: %s", n.id, err, out)
	}
	return n.id, nil
}

// Size is the number of nodes the cluster started with.
func (c *Cluster) Size() int { return c.opts.Nodes }

// Spares is how many nodes AddNode can add behind proxies.
func (c *Cluster) Spares() int { return len(c.spares) }

// Retire stops a node that left the membership and drops it from IDs:
// health checks, nemeses and the final checks no longer consider it. Its
// log stays.
func (c *Cluster) Retire(id string) {
	c.StopNode(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order = slices.DeleteFunc(c.order, func(o string) bool { return o == id })
	if conn, ok := c.conns[id]; ok {
		conn.Close()
		delete(c.conns, id)
	}
}

// Addrs returns a node's raft, peer and client addresses.
func (c *Cluster) Addrs(id string) (raft, peer, client string) {
	n := c.nodes[id]
	return n.raft, n.peer, n.client
}
