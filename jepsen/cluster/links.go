package cluster

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/keyquorum/keyquorum/jepsen/proxy"
)

type linkKey struct{ from, to string }

// Link is the directed network link from one node to another: the proxies
// that carry the source node's raft, peer and forwarded client connections
// to the destination. A partition from A to B blackholes A's link to B; a
// two-way partition also blackholes B's link to A.
type Link struct {
	From, To string
	proxies  []*proxy.Proxy // raft, peer, client
}

// SetMode switches every proxy of the link.
func (l *Link) SetMode(m proxy.Mode) {
	for _, p := range l.proxies {
		p.SetMode(m)
	}
}

// Mode is the mode of the link's proxies (they always share one).
func (l *Link) Mode() proxy.Mode { return l.proxies[0].Mode() }

// Link returns the link from node from to node to; nil without
// Options.Proxies or for an unknown pair.
func (c *Cluster) Link(from, to string) *Link { return c.links[linkKey{from, to}] }

// SetLinks sets the mode of every link whose endpoints satisfy cut and
// heals every other link, so that each call describes the whole network.
func (c *Cluster) SetLinks(m proxy.Mode, cut func(from, to string) bool) {
	for k, l := range c.links {
		if cut(k.from, k.to) {
			l.SetMode(m)
		} else {
			l.SetMode(proxy.Mode{Kind: proxy.Pass})
		}
	}
}

// HealLinks sets every link to pass.
func (c *Cluster) HealLinks() {
	c.SetLinks(proxy.Mode{}, func(string, string) bool { return false })
}

func (c *Cluster) startLinks() error {
	all := append(c.IDs(), c.spares...)
	for _, from := range all {
		for _, to := range all {
			if from == to {
				continue
			}
			dst := c.nodes[to]
			ports, err := c.ports.free(3)
			if err != nil {
				return err
			}
			l := &Link{From: from, To: to}
			for i, target := range []string{dst.raft, dst.peer, dst.client} {
				p := proxy.New(addr(ports[i]), target, nil)
				if err := p.Start(); err != nil {
					return fmt.Errorf("cluster: link %s->%s: %w", from, to, err)
				}
				l.proxies = append(l.proxies, p)
			}
			c.links[linkKey{from, to}] = l
		}
	}
	return nil
}

func (c *Cluster) closeLinks() {
	for _, l := range c.links {
		for _, p := range l.proxies {
			p.Close()
		}
	}
}

// viaConfig is the node's via: section, mapping each peer address to the
// proxy of its link; empty without proxies.
func (c *Cluster) viaConfig(from string) string {
	if len(c.links) == 0 {
		return ""
	}
	via := map[string]string{}
	for k, l := range c.links {
		if k.from != from {
			continue
		}
		for _, p := range l.proxies {
			via[p.Target()] = p.Listen()
		}
	}
	var b strings.Builder
	b.WriteString("    via:\n")
	for _, target := range slices.Sorted(maps.Keys(via)) {
		fmt.Fprintf(&b, "      %q: %q\n", target, via[target])
	}
	return b.String()
}
