package nemesis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// Membership changes the cluster's members while other faults run: it adds
// a node (a spare the cluster allocated behind proxies at its start),
// removes one (the leader too, sometimes), or replaces one by a new node,
// through `kq node add|remove|replace`, starts the new node with --join,
// and while the change runs (joining, resharing every key to the new
// holders, promotion; or resharing without the leaving node, removal)
// injects one fault of the other kinds of the run. Then it waits for the
// change to finish and retires the removed node (stopped, no longer
// checked). The cluster keeps between its starting size and one more.
//
// While it waits it watches the new node's status on the leader: a node
// that raft counts as a voter before its membership state is voter (every
// key's shares confirmed) is a violation, reported in the Effect.
type Membership struct {
	// During are the failpoints one of which runs during each change.
	During []Failpoint
	// Ceremony, when set, makes each change a membership ceremony with
	// these params (canonical JSON of ceremony.MembershipParams) instead
	// of kq node: once the policy lists operators, only a ceremony may
	// change the membership. It returns once the ceremony executed.
	Ceremony func(ctx context.Context, params string) error
}

// WithCeremony returns fps with every membership change made by ceremony.
func WithCeremony(fps []Failpoint, ceremony func(ctx context.Context, params string) error) []Failpoint {
	out := slices.Clone(fps)
	for i, fp := range out {
		if m, ok := fp.(Membership); ok {
			m.Ceremony = ceremony
			out[i] = m
		}
	}
	return out
}

// changeParams is a membership ceremony's params for op.
func changeParams(c *cluster.Cluster, op, old, added string) string {
	p := map[string]any{"op": op}
	if old != "" {
		p["node"] = old
	}
	if added != "" {
		raft, peer, client := c.Addrs(added)
		p["new"] = map[string]string{"id": added, "raft": raft, "peer": peer, "client": client}
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// changeTimeout bounds one membership change: resharing every key of a
// run on a loaded machine, under a fault.
const changeTimeout = 3 * time.Minute

// Name implements Failpoint.
func (Membership) Name() string { return "membership" }

// Available implements Failpoint.
func (Membership) Available(*cluster.Cluster) bool { return true }

// Inject implements Failpoint.
func (m Membership) Inject(ctx context.Context, c *cluster.Cluster, rnd *rand.Rand, hold time.Duration) (Effect, error) {
	if err := settle(ctx, c, nil); err != nil {
		return Effect{Target: "an earlier membership change"}, err
	}
	ids := c.IDs()
	var ops []string
	if len(ids) <= c.Size() && c.Spares() > 0 {
		ops = append(ops, "add")
	}
	if len(ids) > c.Size() {
		ops = append(ops, "remove")
	}
	if c.Spares() > 0 {
		ops = append(ops, "replace")
	}
	if len(ops) == 0 {
		return Effect{Target: "no change: no spare node left"}, nil
	}
	op := ops[rnd.IntN(len(ops))]
	old := ""
	if op != "add" {
		id, _ := target(ctx, c, rnd)
		old = id
	}
	added := ""
	var args []string
	switch op {
	case "add":
		id, err := c.AddNode(ctx)
		if err != nil {
			return Effect{Target: "add"}, err
		}
		added, args = id, []string{"node", "add", id}
	case "remove":
		args = []string{"node", "remove", old}
	case "replace":
		id, err := c.AddNode(ctx)
		if err != nil {
			return Effect{Target: "replace " + old}, err
		}
		added, args = id, []string{"node", "replace", old, "--with", id}
	}
	eff := Effect{Target: fmt.Sprintf("%s %s", op, describeChange(old, added))}
	if added != "" {
		// Started first, as an operator would: with --join it waits for
		// the leader to add it, so it is up the moment the change starts.
		if err := c.StartNode(added); err != nil {
			c.Retire(added)
			return eff, fmt.Errorf("nemesis: start %s: %w", added, err)
		}
	}
	// A ceremony needs a proposal and two approvals, each maybe retried
	// across an election.
	kctx, cancel := context.WithTimeout(ctx, time.Minute)
	var out []byte
	var err error
	if m.Ceremony != nil {
		eff.Target += " (by ceremony)"
		err = m.Ceremony(kctx, changeParams(c, op, old, added))
	} else {
		out, err = c.KQ(kctx, args...)
	}
	cancel()
	if err != nil && !isMember(context.WithoutCancel(ctx), c, added) {
		// Refused, or lost before it applied: nothing changed. A new
		// node that never joined is retired (ids are not reused).
		if added != "" {
			c.Retire(added)
		}
		return eff, fmt.Errorf("nemesis: %w: %s", err, out)
	}
	err = nil // kq gave up, but the change is under way: see it through
	w := &watch{node: added}
	done := make(chan error, 1)
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	go func() { done <- w.run(wctx, c) }()
	if len(m.During) > 0 {
		fp := m.During[rnd.IntN(len(m.During))]
		inner, ierr := fp.Inject(ctx, c, rand.New(rand.NewPCG(rnd.Uint64(), rnd.Uint64())), hold)
		eff.Target += fmt.Sprintf(", during it %s %s", fp.Name(), inner.Target)
		eff.Down, eff.Cut = inner.Down, inner.Cut
		if ierr != nil {
			err = errors.Join(err, ierr)
		}
	}
	// The change goes on after the run's traffic ends: the final checks
	// need it finished.
	serr := settle(context.WithoutCancel(ctx), c, w)
	stop()
	<-done
	eff.Violations = w.early()
	return eff, errors.Join(err, serr)
}

func describeChange(old, added string) string {
	switch {
	case old == "":
		return added
	case added == "":
		return old
	}
	return old + " by " + added
}

// settle waits until no member is mid-change, then retires the members the
// change removed. With w it also waits for w's node to be a voter in raft.
func settle(ctx context.Context, c *cluster.Cluster, w *watch) error {
	ctx, cancel := context.WithTimeout(ctx, changeTimeout)
	defer cancel()
	// The wait ends at changeTimeout or at the caller's deadline (the
	// final heal's is shorter), so the error says how long it was.
	start := time.Now()
	var last error
	for {
		members, err := listMembers(ctx, c)
		if err == nil {
			busy := ""
			for _, m := range members {
				switch {
				case m.State == "removed" && slices.Contains(c.IDs(), m.Id):
					c.Retire(m.Id)
				case m.State != "voter" && m.State != "removed":
					busy = fmt.Sprintf("%s is %s", m.Id, m.State)
				case w != nil && m.Id == w.node && m.Raft != "voter":
					busy = fmt.Sprintf("%s is not a raft voter yet", m.Id)
				}
			}
			if busy == "" {
				return nil
			}
			err = errors.New(busy)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("nemesis: membership change not finished after %s: %w", time.Since(start).Round(time.Second), last)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// isMember reports whether the leader lists id as a member; false for "".
func isMember(ctx context.Context, c *cluster.Cluster, id string) bool {
	if id == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if members, err := listMembers(ctx, c); err == nil {
			return slices.ContainsFunc(members, func(m *kqpb.NodeStatus) bool { return m.Id == id })
		}
		time.Sleep(300 * time.Millisecond)
	}
	return false
}

// listMembers asks the members in turn until the leader answers.
func listMembers(ctx context.Context, c *cluster.Cluster) ([]*kqpb.NodeStatus, error) {
	var last error = errors.New("no member")
	for _, id := range c.IDs() {
		if !c.Running(id) {
			continue
		}
		mc, err := c.Membership(id)
		if err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := mc.ListMembers(cctx, &kqpb.ListMembersRequest{})
		cancel()
		if err == nil {
			return resp.Members, nil
		}
		last = err
	}
	return nil, last
}

// watch polls a joining node's status on the leader and keeps what no
// correct cluster shows: raft counting the node as a voter while its
// membership state is not voter yet.
type watch struct {
	node string
	seen []string
	_    struct{}
}

func (w *watch) run(ctx context.Context, c *cluster.Cluster) error {
	if w.node == "" {
		return nil
	}
	for ctx.Err() == nil {
		for _, id := range c.IDs() {
			if !c.Running(id) {
				continue
			}
			mc, err := c.Membership(id)
			if err != nil {
				return err
			}
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			st, err := mc.GetNodeStatus(cctx, &kqpb.NodeStatusRequest{Id: w.node})
			cancel()
			if err != nil {
				continue
			}
			if st.Raft == "voter" && st.State != "voter" {
				v := fmt.Sprintf("%s was a raft voter while its membership state was %s (its shares of every key not yet confirmed)", w.node, st.State)
				if !slices.Contains(w.seen, v) {
					w.seen = append(w.seen, v)
				}
			}
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// early returns the violations seen; call it after run returned.
func (w *watch) early() []string { return w.seen }
