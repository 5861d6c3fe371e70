package frostsign

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/metrics"
	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/frost"
)

// FROST signing: one round after the request is applied.
//
// Each committee member, once its own replica has applied and accepted
// the request, signs with the nonce its commitment stood for (claimed in
// Applied) and sends the signature share to the coordinator. The
// coordinator is the leader when it holds a share of the key (it can then
// retry at once, without the culprit), else the committee's lowest member
// id. It verifies every share against the commitment list and the
// member's verifying share (RFC 9591 Section 5.4), so a bad share names
// its sender, aggregates, and reports SignCompleted; every replica then
// verifies the signature as for any other.

// frostShareWait bounds how long the coordinator waits to apply the
// request a share arrived for: members apply it at about the same time.
const frostShareWait = 2 * time.Second

// frostAgg is the coordinator's state for one attempt.
type frostAgg struct {
	started     time.Time
	commitments []frost.Commitment
	shares      map[string]frost.SignatureShare // by member
	wire        map[string][]byte               // each share as received, for blame evidence
	done        bool
}

// Sign is a member's part of a FROST attempt.
func (w *Work) Sign(ctx context.Context, s *fsm.Sign) {
	log := w.log.With("request", s.RequestID, "attempt", s.Attempt)
	start := time.Now()
	nonces, ok := w.claim(s)
	if !ok {
		log.Warn("FROST attempt names a commitment this member holds no nonce for; the leader will retry")
		return
	}
	coord := w.frostCoordinator(s)
	share, list, err := w.frostShare(ctx, s, nonces)
	w.cfg.Metrics.Session(metrics.KindFrostSign, start, err)
	if err != nil {
		log.Warn("FROST signature share", "err", err)
		return
	}
	b, _ := share.MarshalBinary()
	req := &kqpb.FrostShareRequest{RequestId: s.RequestID, Attempt: s.Attempt, SessionIndex: s.SessionIndex, Share: b}
	if coord == w.cfg.Self {
		// The list this member just decoded and checked is the one the
		// coordinator checks every share against: decoding a point costs
		// a scalar multiplication (the subgroup check), so it is done once.
		w.setCommitments(w.aggFor(AttemptKey(s), w.cfg.Cluster.Sign.Timeout), list)
		if err := w.Receive(ctx, w.cfg.Self, req); err != nil {
			log.Warn("FROST own share refused", "err", err)
		}
		return
	}
	if err := w.sendFrostShare(ctx, coord, req); err != nil {
		log.Warn("FROST share not delivered", "coordinator", coord, "err", err)
	}
}

// frostShare computes this member's signature share and returns the
// attempt's commitment list it checked. The nonces are discarded whatever
// happens: frost.Sign consumes them first, and every earlier refusal
// discards them here.
func (w *Work) frostShare(ctx context.Context, s *fsm.Sign, nonces frost.Nonces) (frost.SignatureShare, []frost.Commitment, error) {
	defer nonces.Discard()
	g, err := w.frostGroup(ctx, frostSlot{s.Key, s.Version, s.Epoch})
	if err != nil {
		return frost.SignatureShare{}, nil, err
	}
	own := map[string]frost.Commitment{w.cfg.Self: nonces.Commitment()}
	list, _, err := frostCommitments(g, s, own)
	if err != nil {
		return frost.SignatureShare{}, nil, err
	}
	share, err := frost.Sign(g.Key, nonces, s.Digest, list)
	return share, list, err
}

// frostCommitments decodes an attempt's commitment list and checks each
// commitment is its member's: a member that published another's
// identifier, or points that do not decode, is named as culprit. known
// holds commitments already decoded and checked, by member (this
// member's own, made by frost.Commit): one is used only when its encoding
// is exactly the one the log recorded.
func frostCommitments(g *tss.FrostGroup, s *fsm.Sign, known map[string]frost.Commitment) (list []frost.Commitment, culprit string, err error) {
	list = make([]frost.Commitment, 0, len(s.Frost))
	for _, cm := range s.Frost {
		if c, ok := known[cm.Node]; ok {
			if b, err := c.MarshalBinary(); err == nil && bytes.Equal(b, cm.Commitment) {
				list = append(list, c)
				continue
			}
		}
		c, err := frost.ParseCommitment(cm.Commitment)
		if err != nil {
			return nil, cm.Node, fmt.Errorf("node: FROST commitment %s of %s: %w", cm.ID, cm.Node, err)
		}
		if id, ok := g.IDs[cm.Node]; !ok || c.Identifier() != id {
			return nil, cm.Node, fmt.Errorf("node: FROST commitment %s is not %s's: %w", cm.ID, cm.Node, frost.ErrUnknownSigner)
		}
		list = append(list, c)
	}
	return list, "", nil
}

// frostCoordinator names the member that aggregates an attempt's shares.
func (w *Work) frostCoordinator(s *fsm.Sign) string {
	leader := w.m.Leader()
	if k, ok := w.state.Key(s.Key); ok && leader != "" && k.HasMember(leader) {
		return leader
	}
	return slices.Min(s.Committee)
}

func (w *Work) sendFrostShare(ctx context.Context, to string, req *kqpb.FrostShareRequest) error {
	conn, err := w.m.PeerConn(to)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, frostShareWait+time.Second)
	defer cancel()
	_, err = kqpb.NewPeerServiceClient(conn).FrostShare(ctx, req)
	return err
}

// Receive takes one member's share as coordinator. It answers the
// sender only whether the share was taken; an invalid share ends the
// attempt (frostBlame).
func (w *Work) Receive(ctx context.Context, from string, req *kqpb.FrostShareRequest) error {
	s, err := w.frostAttempt(ctx, req)
	if err != nil {
		return err
	}
	if !slices.Contains(s.Committee, from) {
		return status.Errorf(codes.PermissionDenied, "%s is not in the committee of %s", from, req.RequestId)
	}
	g, err := w.frostGroup(ctx, frostSlot{s.Key, s.Version, s.Epoch})
	if err != nil {
		return status.Errorf(codes.FailedPrecondition, "coordinator has no share of %s: %v", s.Key, err)
	}
	f := w
	a := f.aggFor(AttemptKey(s), w.cfg.Cluster.Sign.Timeout)
	// One goroutine per share; the attempt's state is small and its
	// checks cheap, so they run under the lock.
	f.mu.Lock()
	defer f.mu.Unlock()
	if a.done {
		return nil
	}
	if a.commitments == nil {
		var culprit string
		if a.commitments, culprit, err = frostCommitments(g, s, nil); err != nil {
			a.done = true
			w.frostBlame(s, culprit, CheckCommitment, frostCommitmentOf(s, culprit), err)
			return nil
		}
	}
	sh, err := frost.ParseSignatureShare(req.Share)
	if err == nil && sh.Identifier() != g.IDs[from] {
		err = fmt.Errorf("node: share carries another member's identifier: %w", frost.ErrInvalidShare)
	}
	if err == nil {
		err = g.Group.VerifyShare(sh, s.Digest, a.commitments)
	}
	if err != nil {
		a.done = true
		w.frostBlame(s, from, CheckShare, req.Share, err)
		return nil
	}
	if _, dup := a.shares[from]; dup {
		return nil
	}
	a.shares[from] = sh
	a.wire[from] = req.Share
	if len(a.shares) < len(s.Committee) {
		return nil
	}
	a.done = true
	shares := make([]frost.SignatureShare, 0, len(s.Committee))
	for _, m := range s.Committee {
		shares = append(shares, a.shares[m])
	}
	sig, err := g.Group.Aggregate(s.Digest, a.commitments, shares)
	if err != nil {
		var bad *frost.InvalidShareError
		culprit := ""
		if errors.As(err, &bad) && len(bad.Culprits) > 0 {
			culprit, _ = g.Member(bad.Culprits[0])
		}
		w.frostBlame(s, culprit, CheckShare, a.wire[culprit], err)
		return nil
	}
	// The coordinator alone holds the signature, so it reports at once
	// (reportSignature's backup delay is for committees whose members
	// all hold it).
	rctx := w.runCtx()
	w.m.Go(func() {
		ctx, cancel := context.WithTimeout(rctx, w.cfg.ReportTimeout)
		defer cancel()
		w.m.Report(ctx, &fsm.SignCompleted{RequestID: s.RequestID, Attempt: s.Attempt, Node: w.cfg.Self, Signature: sig})
	})
	return nil
}

// frostAttempt returns the pending attempt a share is for, once this
// replica has applied its entry.
func (w *Work) frostAttempt(ctx context.Context, req *kqpb.FrostShareRequest) (*fsm.Sign, error) {
	if w.state.AppliedIndex() < req.SessionIndex {
		// Woken when the attempt's entry applies here, not by polling: a
		// share from a quick member often arrives first.
		timer := time.NewTimer(frostShareWait)
		defer timer.Stop()
		for wake := w.m.Applied(req.RequestId); w.state.AppliedIndex() < req.SessionIndex; {
			select {
			case <-wake:
				wake = w.m.Applied(req.RequestId)
			case <-timer.C:
				return nil, status.Errorf(codes.Unavailable, "entry %d not applied here", req.SessionIndex)
			case <-ctx.Done():
				return nil, status.Errorf(codes.Unavailable, "entry %d not applied here", req.SessionIndex)
			}
		}
	}
	s, ok := w.state.Sign(req.RequestId)
	if !ok || s.State != fsm.SignStatePending || s.Attempt != req.Attempt || s.SessionIndex != req.SessionIndex || len(s.Frost) == 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "no pending FROST attempt %d of %s at entry %d", req.Attempt, req.RequestId, req.SessionIndex)
	}
	return s, nil
}

// aggFor returns the coordinator's state for an attempt, made on first
// use; attempts older than timeout are forgotten then.
func (f *Work) aggFor(key string, timeout time.Duration) *frostAgg {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.agg[key]
	if !ok {
		f.sweepAgg(timeout)
		a = &frostAgg{started: time.Now(), shares: map[string]frost.SignatureShare{}, wire: map[string][]byte{}}
		f.agg[key] = a
	}
	return a
}

// setCommitments hands the coordinator the attempt's commitment list its
// own member part checked, unless a share that arrived first had it
// decoded already.
func (f *Work) setCommitments(a *frostAgg, list []frost.Commitment) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a.commitments == nil {
		a.commitments = list
	}
}

// sweepAgg forgets attempts older than a sign timeout. Call with f.mu held.
func (f *Work) sweepAgg(timeout time.Duration) {
	for k, a := range f.agg {
		if time.Since(a.started) > timeout {
			delete(f.agg, k)
		}
	}
}

// frostBlame ends an attempt that a member's share or commitment spoiled,
// and reports the culprit with the hash of what it sent (evidence). A
// leader retries at once under a committee without the culprit; another
// coordinator's report makes the leader's supervisor retry (node/blame
// Work.RetryBlamed). Called with the FROST lock held: the work is spawned.
func (w *Work) frostBlame(s *fsm.Sign, culprit, check string, evidence []byte, err error) {
	w.log.Warn("FROST attempt failed: invalid signature share", "request", s.RequestID, "attempt", s.Attempt, "culprit", culprit, "err", err)
	rctx := w.runCtx()
	w.m.Go(func() { w.m.Blame(rctx, s, culprit, check, sha256.Sum256(evidence)) })
	if !w.m.IsLeader() {
		return
	}
	reason := fmt.Sprintf("FROST signature share from %s is invalid: %v", culprit, err)
	w.m.Go(func() { w.m.RetryAvoiding(rctx, s, culprit, reason) })
}

// frostCommitmentOf returns the commitment member published for attempt s.
func frostCommitmentOf(s *fsm.Sign, member string) []byte {
	for _, c := range s.Frost {
		if c.Node == member {
			return c.Commitment
		}
	}
	return nil
}

// frostRand is the randomness nonces are drawn from.
func (w *Work) frostRand() io.Reader {
	if w.cfg.NonceReuse {
		return bugNonceReader{}
	}
	return rand.Reader
}
