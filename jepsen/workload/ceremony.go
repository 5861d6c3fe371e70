package workload

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/jepsen/checker"
	"github.com/keyquorum/keyquorum/jepsen/client"
	"github.com/keyquorum/keyquorum/jepsen/model"
)

// The ceremony workload: the sign workload's traffic with operators'
// quorum ceremonies mixed in. Setup applies a policy that lists three
// operators (quorum 2; the harness's client principal keeps every role it
// needs to create and sign), whose approval keys only the workload holds.
// Clients propose key-policy ceremonies (allow deletion of a key: its flag
// changes nothing else the run does) and now and then tenant-create ones
// (which move the policy version, so the ceremonies pending then fail at
// their quorum), approve them with the operators' keys, cancel a few, send
// approvals that must be refused (a signature over another ceremony's
// digest, a key no policy lists, an operator approving twice), and read
// the keys back. The calls are recorded apart from the porcupine history,
// for checker.Ceremonies.

// CeremonyDialer reaches the services the ceremony workload calls;
// jepsen/cluster.Cluster is one.
type CeremonyDialer interface {
	client.Dialer
	Ceremony(node string) (kqpb.CeremonyServiceClient, error)
	Policy(node string) (kqpb.PolicyServiceClient, error)
}

// Operators of the ceremony workload and their quorum.
var operatorNames = []string{"alice", "bob", "carol"}

const (
	ceremonyQuorum  = 2
	ceremonyTimeout = 8 * time.Second
	// Ceremonies live 15-30 s: long enough to gather approvals under
	// faults, short enough that abandoned ones expire within a run and
	// never hold the 32 pending slots.
	ceremonyMinTTL = 15 * time.Second
	ceremonyMaxTTL = 30 * time.Second
)

// ceremonies is the workload's ceremony state: the operators' keys, the
// ceremonies proposed, and the recorded calls.
type ceremonies struct {
	dial     CeremonyDialer
	now      func() int64 // the history clock, shared with the recorder
	keys     map[string]ed25519.PrivateKey
	stranger ed25519.PrivateKey

	mu      sync.Mutex
	cers    []*cerRef
	ops     []checker.CeremonyOp
	tenants int
}

type cerRef struct {
	id, digest, kind, target string
	approved                 map[string]bool // operators whose approval was acknowledged
	ended                    bool
}

func newCeremonies(dial client.Dialer, now func() int64) (*ceremonies, error) {
	d, ok := dial.(CeremonyDialer)
	if !ok {
		return nil, errors.New("workload: the ceremony workload needs ceremony and policy clients")
	}
	cs := &ceremonies{dial: d, now: now, keys: map[string]ed25519.PrivateKey{}}
	for _, name := range operatorNames {
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		cs.keys[name] = priv
	}
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, err
	}
	cs.stranger = priv
	return cs, nil
}

func pubOf(k ed25519.PrivateKey) string {
	return audit.FormatApprovalKey(k.Public().(ed25519.PublicKey))
}

// policy is the document setup applies: the operators, quorum 2, and the
// harness's client principal (admin) with every role on every tenant,
// which needs the separation of duties lifted.
func (cs *ceremonies) policy() string {
	var b strings.Builder
	b.WriteString("separation_of_duties: []\nprincipals:\n  admin:\n    roles:\n")
	for _, r := range []string{"cluster-admin", "key-admin", "issuer", "signer", "auditor"} {
		fmt.Fprintf(&b, "      - {role: %s, tenant: \"*\"}\n", r)
	}
	b.WriteString("operators:\n")
	for _, name := range operatorNames {
		fmt.Fprintf(&b, "  %s: {public_key: %q}\n", name, pubOf(cs.keys[name]))
	}
	fmt.Fprintf(&b, "ceremonies: {default_quorum: %d}\n", ceremonyQuorum)
	return b.String()
}

// setup applies the operators' policy through the leader, until it is
// applied or ctx ends (a fresh cluster reaches protocol 2 only seconds
// after its start).
func (cs *ceremonies) setup(ctx context.Context, nodes []string) error {
	doc := []byte(cs.policy())
	for {
		var last error
		for _, node := range nodes {
			pc, err := cs.dial.Policy(node)
			if err != nil {
				return err
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = pc.ApplyPolicy(cctx, &kqpb.ApplyPolicyRequest{Document: doc})
			cancel()
			if err == nil {
				return nil
			}
			if c := status.Code(err); c == codes.InvalidArgument || c == codes.PermissionDenied {
				return fmt.Errorf("workload: apply the operators' policy: %w", err)
			}
			last = err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("workload: apply the operators' policy: %w", last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// recorded returns the recorded ceremony calls.
func (cs *ceremonies) recorded() []checker.CeremonyOp {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return slices.Clone(cs.ops)
}

// CeremonyOps returns the ceremony workload's recorded calls (none for the
// other workloads).
func (w *Workload) CeremonyOps() []checker.CeremonyOp {
	if w.cer == nil {
		return nil
	}
	return w.cer.recorded()
}

// ceremonyMix is the sign workload with ceremonies.
func ceremonyMix() []weighted {
	return append(signMix(),
		weighted{8, (*Workload).propose},
		weighted{14, (*Workload).approve},
		weighted{1, (*Workload).cancelCeremony},
		weighted{2, (*Workload).badApproval},
		weighted{4, (*Workload).readCeremonyKey},
		weighted{1, (*Workload).listCeremonies},
	)
}

// onLeader makes one ceremony or policy call, which only the leader
// serves: from node on, each node is tried until one is not a follower
// (or unreachable). The call is recorded once, with the node that
// answered; a call no node would take is unreached.
func (cs *ceremonies) onLeader(ctx context.Context, id int, op checker.CeremonyOp, node string, nodes []string,
	call func(ctx context.Context, node string) error, fill func(*checker.CeremonyOp)) checker.CeremonyOp {
	ctx, cancel := context.WithTimeout(ctx, ceremonyTimeout)
	defer cancel()
	i := max(0, slices.Index(nodes, node))
	op.Client, op.Call = id, cs.now()
	var err error
	for try := range nodes {
		op.Node = nodes[(i+try)%len(nodes)]
		err = call(ctx, op.Node)
		if err == nil || !notLeader(err) || ctx.Err() != nil {
			break
		}
	}
	op.Return = cs.now()
	op.Code, op.Status = codes.OK.String(), model.OK
	if err != nil {
		st, _ := status.FromError(err)
		op.Code, op.Status, op.Error = st.Code().String(), client.Classify(err), st.Message()
		if notLeader(err) {
			op.Status = model.Unreached
		}
	} else if fill != nil {
		fill(&op)
	}
	cs.mu.Lock()
	cs.ops = append(cs.ops, op)
	cs.mu.Unlock()
	return op
}

// notLeader reports a follower's refusal (it applied nothing) or a node
// that could not be reached.
func notLeader(err error) bool {
	return client.Classify(err) == model.Unreached || strings.Contains(status.Convert(err).Message(), "not the leader")
}

func (w *Workload) propose(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	cs := w.cer
	op := checker.CeremonyOp{Op: checker.CeremonyPropose, Kind: "key-policy"}
	var params string
	if rnd.IntN(6) == 0 {
		cs.mu.Lock()
		cs.tenants++
		op.Kind, op.Target = "tenant-create", fmt.Sprintf("ten-%d-%d", id, cs.tenants)
		cs.mu.Unlock()
		params = fmt.Sprintf(`{"tenant":%q}`, op.Target)
	} else {
		k, ok := w.reg.signable(rnd, Ed25519)
		if !ok {
			return
		}
		op.Target = k.name
		params = fmt.Sprintf(`{"key":%q,"deletion_allowed":true}`, k.name)
	}
	ttl := ceremonyMinTTL + time.Duration(rnd.Int64N(int64(ceremonyMaxTTL-ceremonyMinTTL)))
	var got *kqpb.Ceremony
	op = cs.onLeader(ctx, id, op, node, w.nodes(), func(ctx context.Context, n string) error {
		cc, err := cs.dial.Ceremony(n)
		if err != nil {
			return err
		}
		got, err = cc.ProposeCeremony(ctx, &kqpb.ProposeCeremonyRequest{Kind: op.Kind, ParamsJson: params, TtlNanos: int64(ttl)})
		return err
	}, func(op *checker.CeremonyOp) {
		op.ID, op.Ceremonies = got.Id, []checker.CeremonyView{checker.ViewOf(got)}
	})
	if op.Status != model.OK {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.cers = append(cs.cers, &cerRef{id: got.Id, digest: got.Digest, kind: op.Kind, target: op.Target, approved: map[string]bool{}})
}

// pending picks a ceremony not known to have ended, recent ones most often.
func (cs *ceremonies) pending(rnd *rand.Rand) (*cerRef, bool) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	var open []*cerRef
	for _, c := range cs.cers {
		if !c.ended {
			open = append(open, c)
		}
	}
	return pickRecent(rnd, open)
}

// approve approves a pending ceremony as an operator that has not yet
// (one time in eight as one that has, which must be refused), and sends
// an unknown outcome once more with the same signature.
func (w *Workload) approve(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	cs := w.cer
	cer, ok := cs.pending(rnd)
	if !ok {
		return
	}
	cs.mu.Lock()
	var fresh, done []string
	for _, name := range operatorNames {
		if cer.approved[name] {
			done = append(done, name)
		} else {
			fresh = append(fresh, name)
		}
	}
	cs.mu.Unlock()
	who := ""
	switch {
	case len(fresh) > 0 && (len(done) == 0 || rnd.IntN(8) > 0):
		who = fresh[rnd.IntN(len(fresh))]
	case len(done) > 0:
		who = done[rnd.IntN(len(done))]
	default:
		return
	}
	d, _ := hex.DecodeString(cer.digest)
	sig := hex.EncodeToString(ed25519.Sign(cs.keys[who], d))
	for attempt := range 2 {
		op := w.sendApproval(ctx, id, node, checker.CeremonyOp{Op: checker.CeremonyApprove, ID: cer.id, Operator: who, Retry: attempt > 0},
			pubOf(cs.keys[who]), sig)
		cs.mu.Lock()
		if op.Status == model.OK || op.Status == model.AlreadyExists {
			cer.approved[who] = true
		}
		if op.Status == model.FailedPrecondition || op.Status == model.NotFound ||
			op.Status == model.OK && len(op.Ceremonies) == 1 && op.Ceremonies[0].State != audit.CeremonyPending {
			cer.ended = true
		}
		cs.mu.Unlock()
		if op.Status != model.Unknown {
			return
		}
	}
}

func (w *Workload) sendApproval(ctx context.Context, id int, node string, op checker.CeremonyOp, pub, sig string) checker.CeremonyOp {
	cs := w.cer
	var got *kqpb.Ceremony
	return cs.onLeader(ctx, id, op, node, w.nodes(), func(ctx context.Context, n string) error {
		cc, err := cs.dial.Ceremony(n)
		if err != nil {
			return err
		}
		got, err = cc.ApproveCeremony(ctx, &kqpb.ApproveCeremonyRequest{Id: op.ID, PublicKey: pub, Signature: sig})
		return err
	}, func(op *checker.CeremonyOp) { op.Ceremonies = []checker.CeremonyView{checker.ViewOf(got)} })
}

// badApproval sends an approval the cluster must refuse: an operator's
// signature over another ceremony's digest, or a stranger's signature.
func (w *Workload) badApproval(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	cs := w.cer
	cer, ok := cs.pending(rnd)
	if !ok {
		return
	}
	cs.mu.Lock()
	other := cs.cers[rnd.IntN(len(cs.cers))]
	cs.mu.Unlock()
	op := checker.CeremonyOp{Op: checker.CeremonyApprove, ID: cer.id, Bad: checker.BadStranger}
	key, digest := cs.stranger, cer.digest
	if other.id != cer.id && rnd.IntN(2) == 0 {
		op.Bad, op.Operator = checker.BadForeign, operatorNames[rnd.IntN(len(operatorNames))]
		key, digest = cs.keys[op.Operator], other.digest
	}
	d, _ := hex.DecodeString(digest)
	w.sendApproval(ctx, id, node, op, pubOf(key), hex.EncodeToString(ed25519.Sign(key, d)))
}

func (w *Workload) cancelCeremony(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	cs := w.cer
	cer, ok := cs.pending(rnd)
	if !ok {
		return
	}
	var got *kqpb.Ceremony
	op := cs.onLeader(ctx, id, checker.CeremonyOp{Op: checker.CeremonyCancel, ID: cer.id}, node, w.nodes(), func(ctx context.Context, n string) error {
		cc, err := cs.dial.Ceremony(n)
		if err != nil {
			return err
		}
		got, err = cc.CancelCeremony(ctx, &kqpb.CeremonyRequest{Id: cer.id})
		return err
	}, func(op *checker.CeremonyOp) { op.Ceremonies = []checker.CeremonyView{checker.ViewOf(got)} })
	if op.Status == model.OK || op.Status == model.FailedPrecondition {
		cs.mu.Lock()
		cer.ended = true
		cs.mu.Unlock()
	}
}

// readCeremonyKey reads the key of a key-policy ceremony through node.
func (w *Workload) readCeremonyKey(ctx context.Context, c *client.Client, id int, rnd *rand.Rand, node string) {
	cs := w.cer
	cs.mu.Lock()
	var keys []string
	for _, cer := range cs.cers {
		if cer.kind == "key-policy" {
			keys = append(keys, cer.target)
		}
	}
	cs.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	cs.readKey(ctx, id, node, recent(rnd, keys), false)
}

func (cs *ceremonies) readKey(ctx context.Context, id int, node, key string, final bool) model.Status {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	op := checker.CeremonyOp{Client: id, Op: checker.CeremonyReadKey, Target: key, Node: node, Final: final, Call: cs.now()}
	kc, err := cs.dial.Client(node)
	var k *kqpb.Key
	if err == nil {
		k, err = kc.GetKey(ctx, &kqpb.GetKeyRequest{Name: key})
	}
	op.Return = cs.now()
	op.Code, op.Status = codes.OK.String(), model.OK
	if err != nil {
		st, _ := status.FromError(err)
		op.Code, op.Status, op.Error = st.Code().String(), client.Classify(err), st.Message()
	} else {
		op.DeletionAllowed = k.DeletionAllowed
	}
	cs.mu.Lock()
	cs.ops = append(cs.ops, op)
	cs.mu.Unlock()
	return op.Status
}

func (w *Workload) listCeremonies(ctx context.Context, _ *client.Client, id int, _ *rand.Rand, node string) {
	w.cer.list(ctx, id, node, w.nodes(), false)
}

func (cs *ceremonies) list(ctx context.Context, id int, node string, nodes []string, final bool) model.Status {
	var got *kqpb.ListCeremoniesResponse
	op := cs.onLeader(ctx, id, checker.CeremonyOp{Op: checker.CeremonyList, Final: final}, node, nodes, func(ctx context.Context, n string) error {
		cc, err := cs.dial.Ceremony(n)
		if err != nil {
			return err
		}
		got, err = cc.ListCeremonies(ctx, &kqpb.ListCeremoniesRequest{})
		return err
	}, func(op *checker.CeremonyOp) {
		for _, c := range got.Ceremonies {
			op.Ceremonies = append(op.Ceremonies, checker.ViewOf(c))
		}
	})
	return op.Status
}

func (cs *ceremonies) listTenants(ctx context.Context, id int, node string, nodes []string) model.Status {
	var got *kqpb.ListTenantsResponse
	op := cs.onLeader(ctx, id, checker.CeremonyOp{Op: checker.CeremonyTenants, Final: true}, node, nodes, func(ctx context.Context, n string) error {
		pc, err := cs.dial.Policy(n)
		if err != nil {
			return err
		}
		got, err = pc.ListTenants(ctx, &kqpb.ListTenantsRequest{})
		return err
	}, func(op *checker.CeremonyOp) {
		for _, t := range got.Tenants {
			op.Tenants = append(op.Tenants, t.Name)
		}
	})
	return op.Status
}

// final reads, after the faults: the ceremonies and tenants through the
// leader, and every key-policy ceremony's key through every node, each
// until it is answered or ctx ends.
func (cs *ceremonies) final(ctx context.Context, leader string, nodes []string) {
	const id = -1
	until := func(f func() model.Status) {
		for ctx.Err() == nil {
			if st := f(); st != model.Unknown && st != model.Unreached {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	until(func() model.Status { return cs.list(ctx, id, leader, nodes, true) })
	until(func() model.Status { return cs.listTenants(ctx, id, leader, nodes) })
	cs.mu.Lock()
	var keys []string
	for _, cer := range cs.cers {
		if cer.kind == "key-policy" && !slices.Contains(keys, cer.target) {
			keys = append(keys, cer.target)
		}
	}
	cs.mu.Unlock()
	for _, key := range keys {
		for _, node := range nodes {
			until(func() model.Status { return cs.readKey(ctx, id, node, key, true) })
		}
	}
}

// CeremonyChange runs one ceremony of kind with params to its execution,
// for a nemesis whose change needs an operators' quorum once the policy
// lists operators: proposed, then approved by two operators, each call
// recorded like the workload's own (so the ceremonies check verifies it
// too) and repeated until it is answered or ctx ends. It fails when the
// ceremony ends otherwise than executed.
func (w *Workload) CeremonyChange(ctx context.Context, kind, params string) error {
	if w.cer == nil {
		return errors.New("workload: ceremonies need the ceremony workload")
	}
	// A tenant-create of the workload executed meanwhile moves the
	// policy version, and the ceremony fails at its quorum: propose again.
	var err error
	for range 3 {
		if err = w.ceremonyOnce(ctx, kind, params); !errors.Is(err, errCeremonyFailed) {
			return err
		}
	}
	return err
}

var errCeremonyFailed = errors.New("ceremony failed")

func (w *Workload) ceremonyOnce(ctx context.Context, kind, params string) error {
	cs := w.cer
	const id = -2
	var got *kqpb.Ceremony
	for got == nil {
		op := cs.onLeader(ctx, id, checker.CeremonyOp{Op: checker.CeremonyPropose, Kind: kind}, "", w.nodes(), func(ctx context.Context, n string) error {
			cc, err := cs.dial.Ceremony(n)
			if err != nil {
				return err
			}
			got, err = cc.ProposeCeremony(ctx, &kqpb.ProposeCeremonyRequest{Kind: kind, ParamsJson: params, TtlNanos: int64(2 * time.Minute)})
			return err
		}, func(op *checker.CeremonyOp) {
			op.ID, op.Ceremonies = got.Id, []checker.CeremonyView{checker.ViewOf(got)}
		})
		switch {
		case op.Status == model.OK:
		case ctx.Err() != nil:
			return fmt.Errorf("workload: propose %s: %s %s", kind, op.Status, op.Error)
		case op.Status != model.Unknown && op.Status != model.Unreached:
			return fmt.Errorf("workload: propose %s: %s %s", kind, op.Code, op.Error)
		default:
			got = nil
			time.Sleep(250 * time.Millisecond)
		}
	}
	d, _ := hex.DecodeString(got.Digest)
	for _, who := range operatorNames[:ceremonyQuorum] {
		sig := hex.EncodeToString(ed25519.Sign(cs.keys[who], d))
		for {
			op := w.sendApproval(ctx, id, "", checker.CeremonyOp{Op: checker.CeremonyApprove, ID: got.Id, Operator: who}, pubOf(cs.keys[who]), sig)
			if op.Status == model.OK || op.Status == model.AlreadyExists {
				if op.Status == model.OK && op.Ceremonies[0].State != audit.CeremonyPending && op.Ceremonies[0].State != audit.CeremonyExecuted {
					return fmt.Errorf("workload: %s ceremony %s ended %s: %w", kind, got.Id, op.Ceremonies[0].State, errCeremonyFailed)
				}
				break
			}
			if op.Status == model.FailedPrecondition && strings.Contains(op.Error, "failed its precondition") {
				return fmt.Errorf("workload: %s ceremony %s: %s: %w", kind, got.Id, op.Error, errCeremonyFailed)
			}
			if ctx.Err() != nil || op.Status != model.Unknown && op.Status != model.Unreached {
				return fmt.Errorf("workload: approve %s by %s: %s %s", got.Id, who, op.Code, op.Error)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return nil
}
