package tss

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"slices"

	ecdsakeygen "github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	ecdsaresharing "github.com/bnb-chain/tss-lib/v2/ecdsa/resharing"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	eddsaresharing "github.com/bnb-chain/tss-lib/v2/eddsa/resharing"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// ReshareRequest moves a key to new shares: same public key, new secret
// shares, possibly a different member set and threshold. Every node of the
// old committee and of the new parties runs Reshare with the same request
// (from a committed Raft entry), differing only in Share and PreParams.
type ReshareRequest struct {
	Session SessionID
	// Share is this node's current share when it is in OldCommittee. It is
	// never modified. A node outside OldCommittee may pass nil; a non-nil
	// share is then only checked for consistency.
	Share *Share
	// OldCommittee is exactly old threshold+1 current holders; they deal
	// the new shares.
	OldCommittee []string
	// OldParties are all current holders (the old share's parties). A node
	// that only receives takes them from replicated state.
	OldParties []string
	// NewParties are all new holders (n'); may equal the old set or differ.
	NewParties []string
	// NewThreshold is t': any t'+1 new holders can sign; 1 <= t' < n'.
	NewThreshold int
	// Epoch is the new shares' epoch, the old shares' epoch + 1. Party keys
	// derive from (node ID, epoch), so the old and new committee never
	// share a party key, which tss-lib requires.
	Epoch uint32
	// PreParams are this node's fresh ECDSA pre-parameters when it is in
	// NewParties (required there; ignored for Ed25519 and old-only nodes).
	// They become part of the new share: use them once.
	PreParams *PreParams
	// Algorithm is the key's scheme; it must match Share when one is given.
	Algorithm Algorithm
	// PublicKey is the key's public key (Share.PublicKey's encoding). It is
	// required for a node outside OldCommittee, which checks its new share
	// against it; an old-committee node checks against its share's key.
	PublicKey []byte
}

// resharePlan is a validated ReshareRequest.
type resharePlan struct {
	alg      Algorithm
	oldT     int
	pub      []byte
	w        *reshareWiring
	oldShare *Share // this node's current share when it deals
}

// Reshare runs this node's side(s) of resharing: as an old-committee member
// that deals its share, as a new party that receives one, or both (two
// tss-lib parties in one session, with distinct party keys thanks to the
// epoch). It returns the node's new share, or nil if the node is only in the
// old committee. The new share has the same public key as the old one
// (checked) and epoch req.Epoch. The caller's Share is never modified:
// tss-lib zeroes the dealer's secret in place, so the session works on a
// deep copy, wiped afterwards; the old share stays valid until the caller
// destroys it (after every new holder confirmed). An old-only node's success
// means every new party acknowledged its shares, not that each stored one.
// Errors: ErrInvalidRequest, ErrBusy, ErrSessionExists, or an *AbortError.
func (e *Engine) Reshare(ctx context.Context, req ReshareRequest) (*Share, error) {
	p, err := e.planReshare(req)
	if err != nil {
		return nil, err
	}
	if p.oldShare != nil {
		defer p.oldShare.Wipe()
	}
	var s *session
	switch p.alg {
	case ECDSASecp256k1:
		s = newSession(req.Session, "reshare", e.self, p.w, e.tr, e.log, ecdsaResharePrefix, ecdsaReshareTypes)
		err = addReshareParties(s, p, req, func(params *tsslib.ReSharingParameters, old bool, end chan<- *ecdsakeygen.LocalPartySaveData) tsslib.Party {
			key := ecdsakeygen.NewLocalPartySaveData(len(req.NewParties))
			if old {
				key = *p.oldShare.ecdsa
			} else {
				key.LocalPreParams = req.PreParams.p
			}
			return ecdsaresharing.NewLocalParty(params, key, s.out, end)
		})
	case Ed25519:
		s = newSession(req.Session, "reshare", e.self, p.w, e.tr, e.log, eddsaResharePrefix, eddsaReshareTypes)
		err = addReshareParties(s, p, req, func(params *tsslib.ReSharingParameters, old bool, end chan<- *eddsakeygen.LocalPartySaveData) tsslib.Party {
			key := eddsakeygen.NewLocalPartySaveData(len(req.NewParties))
			if old {
				key = *p.oldShare.eddsa
			}
			return eddsaresharing.NewLocalParty(params, key, s.out, end)
		})
	}
	if err != nil {
		return nil, err
	}
	s.check = newChecker(p.alg, req.NewThreshold)
	s.gate = e.heavy
	res, err := e.run(ctx, s)
	if err != nil {
		return nil, err
	}
	newIdx := p.w.local(false)
	if newIdx < 0 {
		return nil, nil
	}
	sh := &Share{alg: p.alg, threshold: req.NewThreshold, self: e.self, epoch: req.Epoch,
		keys: make(map[string]*big.Int, len(req.NewParties))}
	for _, node := range p.w.new.nodes {
		sh.keys[node] = p.w.new.byNode[node].KeyInt()
		sh.parties = append(sh.parties, node)
	}
	slices.Sort(sh.parties)
	// tss-lib sums the dealt sub-shares without reducing them; signing
	// works mod the group order anyway, and a share is stored reduced.
	order := curveOrder(p.alg)
	switch outs := res.(type) {
	case []*ecdsakeygen.LocalPartySaveData:
		sh.ecdsa = outs[newIdx]
		if sh.ecdsa != nil && sh.ecdsa.Xi != nil {
			sh.ecdsa.Xi.Mod(sh.ecdsa.Xi, order)
		}
	case []*eddsakeygen.LocalPartySaveData:
		sh.eddsa = outs[newIdx]
		if sh.eddsa != nil && sh.eddsa.Xi != nil {
			sh.eddsa.Xi.Mod(sh.eddsa.Xi, order)
		}
	}
	if err := sh.validate(); err != nil {
		sh.Wipe()
		return nil, &AbortError{Session: req.Session, Err: fmt.Errorf("tss: reshare produced an invalid share: %w", err)}
	}
	if !bytes.Equal(sh.pub, p.pub) {
		sh.Wipe()
		return nil, &AbortError{Session: req.Session, Err: fmt.Errorf("tss: reshared public key differs from the key's")}
	}
	return sh.own()
}

// addReshareParties builds one tss-lib party per committee this node is in,
// in the wiring's local order, and the drain that waits for all of them.
func addReshareParties[T any](s *session, p *resharePlan, req ReshareRequest,
	newParty func(params *tsslib.ReSharingParameters, old bool, end chan<- T) tsslib.Party) error {
	ec, _ := curveFor(p.alg)
	oldCtx := tsslib.NewPeerContext(p.w.old.sorted)
	newCtx := tsslib.NewPeerContext(p.w.new.sorted)
	ends := make([]<-chan T, 0, len(p.w.roles))
	for _, old := range p.w.roles {
		pid := p.w.new.byNode[s.self]
		if old {
			pid = p.w.old.byNode[s.self]
		}
		params := tsslib.NewReSharingParameters(ec, oldCtx, newCtx, pid,
			len(p.w.old.nodes), p.oldT, len(p.w.new.nodes), req.NewThreshold)
		end := make(chan T, 1)
		var party tsslib.Party
		// NewLocalParty builds the dealer's share subset, which panics on a
		// committee member missing from the share; checked in planReshare,
		// recovered here regardless.
		err := intoLib("new reshare party", p.w, nil, func() *tsslib.Error {
			party = newParty(params, old, end)
			return nil
		})
		if err != nil {
			return err
		}
		s.parties = append(s.parties, party)
		ends = append(ends, end)
	}
	s.drain = func(ctx context.Context) { drainParties(ctx, s, ends) }
	return nil
}

// drainParties is drainParty for a session with one or two local parties:
// the session's value is the slice of their end values, in local order,
// once every party has ended.
func drainParties[T any](ctx context.Context, s *session, ends []<-chan T) {
	got := make([]T, len(ends))
	chs := slices.Clone(ends)
	at := func(i int) <-chan T {
		if i < len(chs) {
			return chs[i]
		}
		return nil // a nil channel never delivers
	}
	left := len(ends)
	for {
		select {
		case m := <-s.out:
			if err := s.send(ctx, m); err != nil {
				s.fail(err)
			}
		case r := <-at(0):
			got[0], chs[0] = r, nil
			left--
		case r := <-at(1):
			got[1], chs[1] = r, nil
			left--
		case <-s.done:
			return
		}
		if left == 0 {
			left = -1
			select {
			case s.results <- got:
			default:
			}
		}
	}
}
