// Package workload drives the recording clients: concurrent creates, reads
// and signatures with retries that reuse request ids, with the lifecycle
// workload also rotations, promotions, rollbacks, retirements and
// revocations of key versions, and in both a few clients signing with
// handles that expire within seconds (the authz workload instead has
// principals of different roles and tenants ask, and revokes one); then, after the faults end, the
// final reads that let the checkers see the state every acknowledged
// operation must have left.
package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyquorum/keyquorum/jepsen/client"
	"github.com/keyquorum/keyquorum/jepsen/model"
)

// Algorithms as the recording client names them.
const (
	Ed25519 = "ed25519"
	ECDSA   = "ecdsa-secp256k1"
)

// Config is one workload.
type Config struct {
	Clients int      // concurrent clients, each with one request in flight
	Nodes   []string // node ids the clients call, each op picks one
	Seed    uint64
	// ECDSA adds one ECDSA key at setup and a few ECDSA signatures; its
	// keygen takes seconds, so short runs keep it rare.
	ECDSA bool
	// Lifecycle mixes key lifecycle requests into the traffic (the
	// "lifecycle" workload; see lifecycle.go).
	Lifecycle bool
	// Ceremony mixes operators' quorum ceremonies into the sign
	// workload's traffic (the "ceremony" workload; see ceremony.go).
	Ceremony bool
	// Members, when set, gives the nodes to call at each operation
	// instead of Nodes: a membership change adds and removes nodes.
	Members func() []string
	// Authz replaces the mix with principals of different roles and
	// tenants (the "authz" workload; see authz.go); the cluster must be an
	// Authority. RevokeAfter, when positive, is when into the traffic one
	// of them is revoked.
	Authz       bool
	RevokeAfter time.Duration
	// ExpiryClients of the Clients, in either workload, issue handles that
	// live a few seconds and sign with them on both sides of their expiry
	// instead of following the mix (see expiry.go).
	ExpiryClients int
	// Think is the most a client waits between two operations.
	Think time.Duration
	_     struct{}
}

// DefaultConfig returns 8 clients, two of them on short-lived handles,
// with ECDSA on.
func DefaultConfig(nodes []string, seed uint64) Config {
	return Config{Clients: 8, Nodes: nodes, Seed: seed, ECDSA: true, Think: 50 * time.Millisecond, ExpiryClients: ExpiryClients(8)}
}

// Validate checks the counts.
func (c Config) Validate() error {
	if c.Clients < 1 || len(c.Nodes) == 0 || c.Think < 0 {
		return errors.New("workload: need at least one client and one node")
	}
	if c.ExpiryClients < 0 || (c.ExpiryClients > 0 && c.ExpiryClients >= c.Clients) {
		return errors.New("workload: the expiry clients must leave at least one client to the mix")
	}
	if c.Authz && (c.Lifecycle || c.Ceremony || c.ExpiryClients > 0) {
		return errors.New("workload: the authz workload has its own mix: no lifecycle requests, ceremonies or expiry clients")
	}
	return nil
}

// Workload runs one Config against a cluster. It is safe for concurrent use
// by its own clients only.
type Workload struct {
	cfg     Config
	rec     *client.Recorder
	dial    client.Dialer
	handles *client.Handles
	reg     registry
	cer     *ceremonies // the ceremony workload's state; nil for the others
	authz   authzState
	ops     atomic.Int64
}

// New prepares a workload that records into rec.
func New(cfg Config, rec *client.Recorder, dial client.Dialer) (*Workload, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Workload{cfg: cfg, rec: rec, dial: dial, handles: client.NewHandles()}
	if cfg.Ceremony {
		var err error
		if w.cer, err = newCeremonies(dial, rec.Now); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// nodes is the nodes an operation may call now.
func (w *Workload) nodes() []string {
	if w.cfg.Members != nil {
		if ns := w.cfg.Members(); len(ns) > 0 {
			return ns
		}
	}
	return w.cfg.Nodes
}

// newClient returns a recording client sharing the run's handles.
func (w *Workload) newClient() *client.Client { return client.New(w.rec, w.dial, w.handles) }

// Ops is the number of operations issued so far.
func (w *Workload) Ops() int64 { return w.ops.Load() }

// Setup creates the first keys, recorded like every other operation, and
// retries each until it is acknowledged or ctx ends. The lifecycle
// workload also creates a throwaway key and rotates the first key once,
// so that versions to promote, retire and revoke exist from the start.
func (w *Workload) Setup(ctx context.Context) error {
	if w.cfg.Authz {
		return w.setupAuthz(ctx)
	}
	if w.cer != nil {
		if err := w.cer.setup(ctx, w.nodes()); err != nil {
			return err
		}
	}
	c := w.newClient()
	keys := []keyRef{{name: "setup-0", algorithm: Ed25519, requestID: "setup-create-0"}}
	if w.cfg.ECDSA {
		keys = append(keys, keyRef{name: "setup-1", algorithm: ECDSA, requestID: "setup-create-1"})
	}
	if w.cfg.Lifecycle {
		keys = append(keys, keyRef{name: "setup-t", algorithm: Ed25519, requestID: "setup-create-t", throwaway: true})
	}
	for _, k := range keys {
		w.reg.addKey(k)
		err := w.setupStep(ctx, "key "+k.name, func() model.Output {
			return c.Create(ctx, w.cfg.Nodes[0], k.name, k.algorithm, k.requestID)
		})
		if err != nil {
			return err
		}
		w.reg.ackKey(k.name)
	}
	if !w.cfg.Lifecycle {
		return nil
	}
	rotate := changeRef{kind: model.Rotate, key: keys[0].name, requestID: "setup-rotate-0"}
	w.reg.addChange(rotate)
	return w.setupStep(ctx, "rotation of "+rotate.key, func() model.Output {
		return c.Change(ctx, w.cfg.Nodes[0], rotate.kind, rotate.key, 0, rotate.requestID)
	})
}

// setupStep repeats op, which reuses its request id, until it is
// acknowledged or ctx ends.
func (w *Workload) setupStep(ctx context.Context, what string, op func() model.Output) error {
	for {
		out := op()
		w.ops.Add(1)
		w.reg.note(out.Key)
		if out.Status == model.OK {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("workload: setup %s: %s %s", what, out.Status, out.Error)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// Run drives the clients until ctx ends.
func (w *Workload) Run(ctx context.Context) {
	if w.cfg.Authz {
		w.runAuthz(ctx)
		return
	}
	var wg sync.WaitGroup
	for i := range w.cfg.Clients {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(w.cfg.Seed, uint64(i)+1))
			if i < w.cfg.ExpiryClients {
				w.runExpiry(ctx, i, rnd)
				return
			}
			c := w.newClient()
			for ctx.Err() == nil {
				before := c.ID()
				w.step(ctx, c, i, rnd)
				w.ops.Add(1)
				w.think(c, before, rnd)
			}
		})
	}
	wg.Wait()
}

// think pauses a client between two operations, up to cfg.Think at
// random. When the last one found its node down or cut off (the client
// reconnected since before, its id then, or never reached a node), it
// backs off ten times longer rather than fill the history with failures.
func (w *Workload) think(c *client.Client, before int, rnd *rand.Rand) {
	think := w.cfg.Think
	if c.ID() != before || c.LastUnreached() {
		think = 10 * max(think, 20*time.Millisecond)
	}
	if think > 0 {
		time.Sleep(time.Duration(rnd.Int64N(int64(think))))
	}
}

// operation is one kind of step a client takes.
type operation func(w *Workload, ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string)

// weighted is an operation and its weight in a mix, out of the mix's sum.
type weighted struct {
	weight int
	op     operation
}

// signMix is the sign workload.
func signMix() []weighted {
	return []weighted{
		{36, (*Workload).signNew},
		{3, (*Workload).signNewECDSA},
		{15, (*Workload).signRetry},
		{2, (*Workload).signConflict},
		{7, (*Workload).create},
		{2, (*Workload).createTaken},
		{25, (*Workload).get},
		{6, (*Workload).list},
	}
}

func (w *Workload) step(ctx context.Context, c *client.Client, id int, rnd *rand.Rand) {
	mix := signMix()
	switch {
	case w.cfg.Lifecycle:
		mix = lifecycleMix()
	case w.cer != nil:
		mix = ceremonyMix()
	}
	total := 0
	for _, m := range mix {
		total += m.weight
	}
	r := rnd.IntN(total)
	nodes := w.nodes()
	node := nodes[rnd.IntN(len(nodes))]
	for _, m := range mix {
		if r < m.weight {
			m.op(w, ctx, c, id, rnd, node)
			return
		}
		r -= m.weight
	}
}

// Per-operation deadlines: long enough for a healthy cluster on a loaded
// machine, short enough that a client stuck behind a partition gives up
// and goes on under a new id.
const (
	readTimeout   = 3 * time.Second
	signTimeout   = 8 * time.Second
	createTimeout = 10 * time.Second
	ecdsaTimeout  = 45 * time.Second
)

func (w *Workload) signNew(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	w.sign(ctx, c, id, rnd, node, Ed25519)
}

func (w *Workload) signNewECDSA(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	if !w.cfg.ECDSA {
		w.signNew(ctx, c, id, rnd, node)
		return
	}
	w.sign(ctx, c, id, rnd, node, ECDSA)
}

func (w *Workload) sign(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node, alg string) {
	k, ok := w.reg.signable(rnd, alg)
	if !ok {
		return
	}
	s := signRef{key: k.name, requestID: fmt.Sprintf("s-%d-%d", id, rnd.Uint32()), digest: digest(rnd)}
	w.reg.addRequest(s)
	w.signRef(ctx, c, node, s, alg)
}

func (w *Workload) signRef(ctx context.Context, c *client.Client, node string, s signRef, alg string) model.Output {
	timeout := signTimeout
	if alg == ECDSA {
		timeout = 2 * signTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := c.SignVersion(ctx, node, s.key, s.version, s.digest, s.requestID)
	if out.Status == model.OK && out.Signature != "" {
		w.reg.ackRequest(s.requestID, s.digest)
	}
	return out
}

// signRetry repeats an earlier request with its id and digest: the answer
// must be the same signature.
func (w *Workload) signRetry(ctx context.Context, c *client.Client, _ int, rnd *rand.Rand, node string) {
	s, ok := w.reg.anyRequest(rnd)
	if !ok {
		return
	}
	w.signRef(ctx, c, node, s, w.algorithmOf(s.key))
}

// signConflict reuses an earlier request id with another digest: the
// cluster must refuse it.
func (w *Workload) signConflict(ctx context.Context, c *client.Client, _ int, rnd *rand.Rand, node string) {
	s, ok := w.reg.anyRequest(rnd)
	if !ok {
		return
	}
	s.digest = digest(rnd)
	w.signRef(ctx, c, node, s, w.algorithmOf(s.key))
}

func (w *Workload) create(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	w.createKey(ctx, c, node, keyRef{name: w.reg.newKeyName(fmt.Sprintf("k%d-", id)), algorithm: Ed25519,
		requestID: fmt.Sprintf("c-%d-%d", id, rnd.Uint32())})
}

// createKey creates k, retrying an unknown outcome once, and reads an
// acknowledged key back through the other nodes.
func (w *Workload) createKey(ctx context.Context, c *client.Client, node string, k keyRef) {
	w.reg.addKey(k)
	ctx, cancel := context.WithTimeout(ctx, createTimeout)
	defer cancel()
	// Retry an unknown outcome once with the same request id, as a client
	// that cares about its key would.
	for range 2 {
		out := c.Create(ctx, node, k.name, k.algorithm, k.requestID)
		w.reg.note(out.Key)
		if out.Status == model.OK {
			w.reg.ackKey(k.name)
			w.readBack(ctx, c, k.name, node)
		}
		if out.Status != model.Unknown || ctx.Err() != nil {
			return
		}
	}
}

// readBack reads a just-acknowledged key through every other node, as a
// client behind a load balancer would: each read must see the key active.
// Followers learn of the commit milliseconds after the leader answered,
// so a node that serves reads from its own state is caught here.
func (w *Workload) readBack(ctx context.Context, c *client.Client, name, created string) {
	for _, node := range w.nodes() {
		if node == created {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, readTimeout)
		w.reg.note(c.Get(rctx, node, name).Key)
		cancel()
	}
}

// createTaken creates an existing name under a new request id: the
// cluster must answer ALREADY_EXISTS once that key exists.
func (w *Workload) createTaken(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	k, ok := w.reg.anyKey(rnd)
	if !ok || k.algorithm != Ed25519 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, createTimeout)
	defer cancel()
	c.Create(ctx, node, k.name, k.algorithm, fmt.Sprintf("c-%d-%d", id, rnd.Uint32()))
}

func (w *Workload) get(ctx context.Context, c *client.Client, _ int, rnd *rand.Rand, node string) {
	k, ok := w.reg.anyKey(rnd)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	w.reg.note(c.Get(ctx, node, k.name).Key)
}

func (w *Workload) list(ctx context.Context, c *client.Client, _ int, _ *rand.Rand, node string) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	c.List(ctx, node)
}

func (w *Workload) algorithmOf(name string) string {
	for _, k := range w.reg.allKeys() {
		if k.name == name {
			return k.algorithm
		}
	}
	return Ed25519
}

// digest is 32 random bytes; the first stays below 0xff so that an ECDSA
// digest is always below the group order.
func digest(rnd *rand.Rand) []byte {
	d := make([]byte, 32)
	for i := range d {
		d[i] = byte(rnd.Uint32())
	}
	d[0] &= 0x7f
	return d
}
