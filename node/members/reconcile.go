package members

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
)

// The membership reconciler runs on the leader and drives a membership
// change (consensus membership.go) one step at a time from the replicated
// state, so a change resumes after the crash of any node, the leader
// included: a new leader reads the same state and does the next step.
//
//	joining:   AddNonvoter; once the node booted and answers heartbeats,
//	           MemberStep joining -> resharing.
//	resharing: every key is reshared to the holder target, which now
//	           includes the node (any threshold+1 live holders deal); once
//	           every key's new shares are confirmed (the FSM checks),
//	           MemberStep resharing -> voter; then AddVoter.
//	removing:  the node is out of the holder target, so every key is
//	           reshared without it; once no key holds it and the node
//	           replacing it votes, and it reported shredding its shares (or
//	           cannot be reached: its shares are useless anyway), RemoveServer
//	           and MemberStep removing -> removed.
//
// Raft's side of each step is idempotent (adding a present server, removing
// an absent one), so redoing a step after a crash is safe.

// shredWait is how long removal waits for a reachable leaving node to
// report its shares shredded before removing it regardless: the reshare
// already made those shares useless.
const shredWait = 20 * time.Second

// Leader is what the reconciler needs of the leader it runs on.
type Leader interface {
	// Reachable returns the members the leader can reach.
	Reachable() []string
	// SuffrageOf returns id's suffrage in raft's latest configuration
	// (consensus.SuffrageNone, SuffrageNonvoter, SuffrageVoter).
	SuffrageOf(id string) string
	AddNonvoter(ctx context.Context, id, addr string) error
	AddVoter(ctx context.Context, id, addr string) error
	RemoveServer(ctx context.Context, id string) error
	// StepDown hands leadership over.
	StepDown() error
	// EnsurePeer opens a peer link to member id at addr unless one is open.
	EnsurePeer(id, addr string)
	// Apply appends an entry as leader and returns its result.
	Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error)
	// PickCommittee picks threshold+1 reachable holders of k.
	PickCommittee(k *fsm.Key) ([]string, error)
	// ClusterNow is the time a quorum's clocks confirm.
	ClusterNow() (time.Time, error)
	// Go runs f on a goroutine the member waits for when it stops.
	Go(f func())
}

// Config is what the reconciler is set up with.
type Config struct {
	Self string // this member's id
	Log  *slog.Logger
	// EarlyVoter is the early-voter deliberate bug.
	EarlyVoter bool
}

// Reconciler is the leader's membership reconciler.
type Reconciler struct {
	cfg     Config
	roster  *Roster
	l       Leader
	state   State
	log     *slog.Logger
	running atomic.Bool // a membership step is running
}

// NewReconciler returns the membership reconciler of a leader.
func NewReconciler(cfg Config, roster *Roster, l Leader, state State) *Reconciler {
	return &Reconciler{cfg: cfg, roster: roster, l: l, state: state, log: cfg.Log}
}

// Check starts the next membership step unless one is running: the
// leader's supervisor calls it on every tick.
func (r *Reconciler) Check(ctx context.Context) {
	if !r.running.CompareAndSwap(false, true) {
		return
	}
	r.l.Go(func() {
		defer r.running.Store(false)
		if err := r.step(ctx); err != nil {
			r.log.Warn("membership step", "err", err)
		}
	})
}

// step does the first step the state asks for, if any.
func (r *Reconciler) step(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	reachable := r.l.Reachable()
	if r.state.Members() == nil {
		// No membership change yet: raft's configuration is the
		// bootstrap (or a recovery's) and nothing here changes it.
		return r.reshareToTarget(ctx, reachable)
	}
	for _, m := range r.roster.All() {
		switch m.State {
		case membership.Joining:
			if r.l.SuffrageOf(m.ID) == consensus.SuffrageNone {
				r.l.EnsurePeer(m.ID, m.Peer)
				if err := r.l.AddNonvoter(ctx, m.ID, m.Raft); err != nil {
					return err
				}
				r.log.Info("membership: added as non-voter", "member", m.ID)
			}
			if r.state.Boot(m.ID) == "" || !slices.Contains(reachable, m.ID) {
				continue // not started, or not caught up with the leader yet
			}
			if err := r.memberStep(ctx, m.ID, membership.Joining, membership.Resharing); err != nil {
				return err
			}
		case membership.Resharing:
			if r.cfg.EarlyVoter {
				// The bug: a vote before the shares are confirmed.
				if err := r.l.AddVoter(ctx, m.ID, m.Raft); err != nil {
					return err
				}
			}
			if r.missingShares(m.ID) {
				continue
			}
			if err := r.memberStep(ctx, m.ID, membership.Resharing, membership.Voter); err != nil {
				return err
			}
		case membership.Voter:
			if r.l.SuffrageOf(m.ID) != consensus.SuffrageVoter {
				if err := r.l.AddVoter(ctx, m.ID, m.Raft); err != nil {
					return err
				}
				r.log.Info("membership: promoted to voter", "member", m.ID)
			}
		case membership.Removing:
			if !r.removable(m, reachable) {
				continue
			}
			if m.ID == r.cfg.Self {
				// The leader leaves last: hand leadership over first.
				return r.l.StepDown()
			}
			if r.l.SuffrageOf(m.ID) != consensus.SuffrageNone {
				if err := r.l.RemoveServer(ctx, m.ID); err != nil {
					return err
				}
				r.log.Info("membership: removed from raft", "member", m.ID)
			}
			if err := r.memberStep(ctx, m.ID, membership.Removing, membership.Removed); err != nil {
				return err
			}
		}
	}
	return r.reshareToTarget(ctx, reachable)
}

func (r *Reconciler) memberStep(ctx context.Context, id string, from, to membership.State) error {
	res, err := r.l.Apply(ctx, &fsm.MemberStep{Node: id, From: from, To: to})
	if err != nil {
		return err
	}
	if res.Err != nil {
		return res.Err
	}
	r.log.Info("membership step", "member", id, "from", from, "to", to)
	return nil
}

// missingShares reports whether a key that can sign lacks id among its
// holders.
func (r *Reconciler) missingShares(id string) bool {
	for _, k := range r.state.Keys() {
		if keyNeedsHolders(k) && !k.HasMember(id) {
			return true
		}
	}
	return false
}

// removable reports whether a leaving member may go now.
func (r *Reconciler) removable(m membership.Member, reachable []string) bool {
	for _, k := range r.state.Keys() {
		if keyNeedsHolders(k) && k.HasMember(m.ID) {
			return false
		}
	}
	if m.ReplacedBy != "" {
		if r, ok := r.state.Members()[m.ReplacedBy]; ok && r.State != membership.Voter {
			return false
		}
	}
	if len(r.state.FormerUnshredded(m.ID)) > 0 && slices.Contains(reachable, m.ID) {
		clusterNow, err := r.l.ClusterNow()
		return err == nil && clusterNow.UnixNano()-m.Since > int64(shredWait)
	}
	return true
}

// keyNeedsHolders reports whether a key has a version whose shares matter.
func keyNeedsHolders(k *fsm.Key) bool {
	for _, v := range k.Versions {
		if v.State.CanSign() || v.State == fsm.KeyGenerating {
			return true
		}
	}
	return false
}

// reshareToTarget starts the reshare of one key whose holders are not the
// holder target, when every target member and threshold+1 current holders
// are reachable. One at a time: each is a full resharing session.
func (r *Reconciler) reshareToTarget(ctx context.Context, reachable []string) error {
	// Before any membership change the target is cluster.yaml's nodes:
	// a holder a refresh left out while it was dead gets a share again.
	target := r.roster.Holders()
	for _, k := range r.state.Keys() {
		if busy, _ := r.keyProgress(k, target, reachable); busy {
			return nil // one reshare at a time
		}
	}
	for _, k := range r.state.Keys() {
		if _, why := r.keyProgress(k, target, reachable); why != "ready" {
			continue
		}
		v := k.Version(k.Primary)
		cmd := &fsm.ReshareKey{RequestID: fmt.Sprintf("membership/%s/v%d/e%d/%d", k.Name, v.Number, v.Epoch+1, time.Now().UnixNano()),
			Key: k.Name, Version: v.Number, Members: target, Threshold: k.Threshold,
			Reason: fmt.Sprintf("membership: holders %v -> %v", k.Members, target), Actor: fsm.ActorSupervisor}
		var err error
		if cmd.Committee, err = r.l.PickCommittee(k); err != nil {
			return err
		}
		res, err := r.l.Apply(ctx, cmd)
		if err != nil {
			return err
		}
		if res.Err != nil {
			return res.Err
		}
		r.log.Info("membership: resharing", "key", k.Name, "holders", target)
		return nil
	}
	return nil
}

// keyProgress says where a key stands against the holder target: busy
// when a refresh of it runs; why is "ready" when a reshare can start,
// "held" when its holders are the target, otherwise what it waits for.
func (r *Reconciler) keyProgress(k *fsm.Key, target, reachable []string) (busy bool, why string) {
	for _, v := range k.Versions {
		if v.Refresh != nil {
			return true, fmt.Sprintf("resharing v%d to epoch %d (%d of %d new shares confirmed)", v.Number, v.Refresh.Epoch, len(v.Refresh.Confirmed), len(v.Refresh.Parties(k)))
		}
	}
	switch {
	case !keyNeedsHolders(k) || slices.Equal(k.Members, target):
		return false, "held"
	case k.Threshold >= len(target):
		return false, fmt.Sprintf("threshold %d needs more than the %d target holders", k.Threshold, len(target))
	}
	signing := 0
	for _, v := range k.Versions {
		if v.State.CanSign() || v.State == fsm.KeyGenerating {
			signing++
		}
	}
	if signing != 1 || k.Version(k.Primary) == nil {
		return false, "more than one version holds shares: promote and retire first"
	}
	if missing := Absent(target, reachable); len(missing) > 0 {
		return false, fmt.Sprintf("waiting for %v to be reachable", missing)
	}
	live := 0
	for _, m := range k.Members {
		if slices.Contains(reachable, m) {
			live++
		}
	}
	if live < k.Threshold+1 {
		return false, fmt.Sprintf("only %d of its holders reachable, %d needed to deal: reported, nothing changed", live, k.Threshold+1)
	}
	if k.Algorithm == "ecdsa-secp256k1" {
		for _, m := range Absent(target, k.Members) {
			if !slices.Contains(r.state.PreParamsReady(), m) {
				return false, fmt.Sprintf("waiting for %s's ECDSA pre-parameters", m)
			}
		}
	}
	return false, "ready"
}

// NodeStatus shows a member and, per key, where its shares stand.
func (r *Reconciler) NodeStatus(id string) (*kqpb.NodeStatus, error) {
	i := slices.IndexFunc(r.roster.All(), func(m membership.Member) bool { return m.ID == id })
	if i < 0 {
		return nil, status.Errorf(codes.NotFound, "%.64q is not a member", id)
	}
	m := r.roster.All()[i]
	out := &kqpb.NodeStatus{Id: m.ID, State: string(m.State), RaftAddress: m.Raft, PeerAddress: m.Peer, ClientAddress: m.Client,
		Replaces: m.Replaces, ReplacedBy: m.ReplacedBy, Raft: r.l.SuffrageOf(m.ID)}
	target := r.roster.Holders()
	reachable := r.l.Reachable()
	for _, k := range r.state.Keys() {
		if fsm.IsAuditKey(k.Name) && !k.HasMember(id) && !slices.Contains(target, id) {
			continue
		}
		p := &kqpb.KeyProgress{Key: k.Name}
		switch busy, why := r.keyProgress(k, target, reachable); {
		case k.HasMember(id) && (target == nil || slices.Contains(target, id) || why == "held"):
			p.State = "held"
		case busy:
			p.State, p.Note = "resharing", why
		case k.WasHolder(id) && !k.Unshredded(id):
			p.State = "shredded"
		case k.WasHolder(id):
			p.State, p.Note = "left", "its shares are useless: the key was reshared without it; not yet reported shredded"
		case !keyNeedsHolders(k):
			continue
		default:
			p.State, p.Note = "pending", why
		}
		out.Keys = append(out.Keys, p)
	}
	return out, nil
}
