// Package tsstest provides in-memory seams for testing the tss engine: a
// Network that carries tss.Messages between engines in one process (with
// Rules to drop or corrupt messages), and a router for raw tss-lib parties
// used by benchmarks.
package tsstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/keyquorum/keyquorum/tss"
)

// Rule inspects every message copy on its way to the member to. It may
// modify *m (its Payload is a private copy) and returns false to drop it.
type Rule func(m *tss.Message, to string) bool

// Deliverer receives messages; *tss.Engine implements it.
type Deliverer interface {
	Deliver(m tss.Message) error
}

// queueCap bounds each member's inbound queue; Send fails rather than block.
const queueCap = 4096

// Network is an in-memory transport between members. Each member has its
// own queue drained by one goroutine that calls its Deliverer, so Send
// never blocks and no test needs sleeps to order messages. From is set by
// the network (as an authenticated transport would), not by the sender.
type Network struct {
	mu     sync.Mutex
	rule   Rule
	queues map[string]chan tss.Message
	errs   map[string][]error
	wg     sync.WaitGroup
	closed bool
}

// NewNetwork returns a network with a queue for each member.
func NewNetwork(ids ...string) *Network {
	n := &Network{queues: make(map[string]chan tss.Message), errs: make(map[string][]error)}
	for _, id := range ids {
		n.queues[id] = make(chan tss.Message, queueCap)
	}
	return n
}

// SetRule installs r for all later messages (nil removes it).
func (n *Network) SetRule(r Rule) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rule = r
}

// Transport returns the member id's sending side.
func (n *Network) Transport(id string) tss.Transport { return endpoint{n: n, id: id} }

// Attach starts delivering id's queue to d. Call it once per member.
func (n *Network) Attach(id string, d Deliverer) {
	q := n.queues[id]
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for m := range q {
			if err := d.Deliver(m); err != nil {
				n.mu.Lock()
				n.errs[id] = append(n.errs[id], err)
				n.mu.Unlock()
			}
		}
	}()
}

// Errors returns the Deliver errors seen at id so far.
func (n *Network) Errors(id string) []error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.errs[id])
}

// Inject delivers m to member to as if sent by m.From, bypassing rules.
func (n *Network) Inject(to string, m tss.Message) error {
	return n.enqueue(to, m)
}

// Close stops delivery goroutines after their queues drain.
func (n *Network) Close() {
	n.mu.Lock()
	if !n.closed {
		n.closed = true
		for _, q := range n.queues {
			close(q)
		}
	}
	n.mu.Unlock()
	n.wg.Wait()
}

func (n *Network) enqueue(to string, m tss.Message) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return errors.New("tsstest: network closed")
	}
	q, ok := n.queues[to]
	if !ok {
		return fmt.Errorf("tsstest: unknown member %q", to)
	}
	select {
	case q <- m:
		return nil
	default:
		return fmt.Errorf("tsstest: queue for %q full", to)
	}
}

type endpoint struct {
	n  *Network
	id string
}

// Send copies m once per recipient, applies the rule and queues it.
func (e endpoint) Send(_ context.Context, m tss.Message) error {
	e.n.mu.Lock()
	rule := e.n.rule
	e.n.mu.Unlock()
	for _, to := range m.To {
		c := m
		c.From = e.id
		c.To = slices.Clone(m.To)
		c.Payload = slices.Clone(m.Payload)
		if rule != nil && !rule(&c, to) {
			continue
		}
		if err := e.n.enqueue(to, c); err != nil {
			return err
		}
	}
	return nil
}

// NewCluster builds a network and one engine per id, attached and ready.
func NewCluster(cfg tss.Config, ids ...string) (*Network, map[string]*tss.Engine, error) {
	n := NewNetwork(ids...)
	engines := make(map[string]*tss.Engine, len(ids))
	for _, id := range ids {
		e, err := tss.NewEngine(cfg, id, n.Transport(id), nil)
		if err != nil {
			return nil, nil, err
		}
		engines[id] = e
		n.Attach(id, e)
	}
	return n, engines, nil
}
