package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/jepsen/proxy"
)

// Partition cuts links between nodes through the proxies. Each injection
// draws a shape (halves, isolated leader, single node, majorities ring,
// bridge, or slow links) and a mode (blackhole most often, else drop).
type Partition struct{}

// Name implements Failpoint.
func (Partition) Name() string { return "partition" }

// Available implements Failpoint: the cluster needs its link proxies.
func (Partition) Available(c *cluster.Cluster) bool {
	ids := c.IDs()
	return len(ids) > 1 && c.Link(ids[0], ids[1]) != nil
}

// shape is a set of cut directed links: cut(a, b) means a cannot reach b
// over connections a opens.
type shape struct {
	name string
	cut  func(from, to string) bool
}

// Inject implements Failpoint.
func (Partition) Inject(ctx context.Context, c *cluster.Cluster, rnd *rand.Rand, hold time.Duration) (Effect, error) {
	ids := c.IDs()
	rnd.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	mode := proxy.Mode{Kind: proxy.Blackhole}
	if rnd.IntN(3) == 0 {
		mode = proxy.Mode{Kind: proxy.Drop}
	}
	var sh shape
	switch rnd.IntN(6) {
	case 0:
		sh = halves(ids)
	case 1:
		l, ok := leaderOr(ctx, c, rnd)
		sh = isolate(l)
		if ok {
			sh.name = "isolate leader " + l
		}
	case 2:
		sh = isolate(ids[0])
	case 3:
		sh = majoritiesRing(ids)
	case 4:
		sh = bridge(ids)
	case 5:
		sh = isolate(ids[0])
		sh.name = "slow links of " + ids[0]
		mode = proxy.Mode{Kind: proxy.Delay, Delay: time.Duration(50+rnd.IntN(250)) * time.Millisecond}
	}
	eff := Effect{Target: fmt.Sprintf("%s (%s)", sh.name, mode)}
	if mode.Kind != proxy.Delay {
		eff.Cut = sh.links(c.IDs())
	}
	c.SetLinks(mode, sh.cut)
	sleep(ctx, hold)
	c.HealLinks()
	return eff, nil
}

// links lists the directed links the shape cuts among ids.
func (sh shape) links(ids []string) [][2]string {
	var cut [][2]string
	for _, a := range ids {
		for _, b := range ids {
			if a != b && sh.cut(a, b) {
				cut = append(cut, [2]string{a, b})
			}
		}
	}
	return cut
}

func isolate(id string) shape {
	return shape{"isolate " + id, func(a, b string) bool { return a == id || b == id }}
}

// halves splits the shuffled nodes into a minority and a majority.
func halves(ids []string) shape {
	minority := ids[:len(ids)/2]
	in := func(id string) bool { return slices.Contains(minority, id) }
	return shape{fmt.Sprintf("halves %v | %v", minority, ids[len(ids)/2:]),
		func(a, b string) bool { return in(a) != in(b) }}
}

// majoritiesRing lets every node see a majority, but no two nodes the same
// one. With five nodes each reaches its two ring neighbours both ways; with
// three, links are cut one way round the ring, so each node dials only its
// successor and hears only from its predecessor.
func majoritiesRing(ids []string) shape {
	n := len(ids)
	pos := map[string]int{}
	for i, id := range ids {
		pos[id] = i
	}
	name := "majorities ring " + strings.Join(ids, "→")
	if n <= 3 {
		return shape{name + " (one way)", func(a, b string) bool { return (pos[a]+1)%n != pos[b] }}
	}
	return shape{name, func(a, b string) bool {
		d := (pos[a] - pos[b] + n) % n
		return d != 1 && d != n-1
	}}
}

// bridge splits the nodes into two sides that cannot talk, joined by one
// node that talks to both.
func bridge(ids []string) shape {
	b := ids[0]
	rest := ids[1:]
	left := rest[:len(rest)/2]
	in := func(id string) bool { return slices.Contains(left, id) }
	return shape{fmt.Sprintf("bridge %v - %s - %v", left, b, rest[len(rest)/2:]), func(x, y string) bool {
		if x == b || y == b {
			return false
		}
		return in(x) != in(y)
	}}
}
