package tss

import (
	"context"
	"fmt"
	"math/big"
	"slices"

	ecdsakeygen "github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// Message type prefixes and type counts per protocol, from tss-lib's protob/.
const (
	ecdsaKeygenPrefix = "binance.tsslib.ecdsa.keygen."
	eddsaKeygenPrefix = "binance.tsslib.eddsa.keygen."
	ecdsaSignPrefix   = "binance.tsslib.ecdsa.signing."
	eddsaSignPrefix   = "binance.tsslib.eddsa.signing."
	ecdsaKeygenTypes  = 4
	eddsaKeygenTypes  = 3
	ecdsaSignTypes    = 10
	eddsaSignTypes    = 3
)

// KeygenRequest describes one distributed key generation. Every member runs
// Keygen with the same request (from a committed Raft entry).
type KeygenRequest struct {
	Session   SessionID
	Algorithm Algorithm
	// Threshold is t: any t+1 of the parties can sign; 1 <= t < n.
	Threshold int
	// Parties are all n members' node IDs, including this node.
	Parties []string
	// PreParams are this member's ECDSA pre-parameters (required for ECDSA,
	// ignored for Ed25519). They become part of the share: use them once.
	PreParams *PreParams
}

// Keygen runs this member's side of a distributed key generation and returns
// its share. It blocks until the session ends, ctx ends or SessionTimeout
// passes. Errors: ErrInvalidRequest, ErrBusy, ErrSessionExists, or an
// *AbortError (wrapping ErrTimeout with the stalled members, or naming
// culprits).
func (e *Engine) Keygen(ctx context.Context, req KeygenRequest) (*Share, error) {
	if !req.Algorithm.Valid() {
		return nil, invalidf("algorithm %d", req.Algorithm)
	}
	n := len(req.Parties)
	if req.Threshold < 1 || req.Threshold >= n {
		return nil, invalidf("threshold %d for %d parties", req.Threshold, n)
	}
	if !slices.Contains(req.Parties, e.self) {
		return nil, invalidf("this node %q is not among the parties", e.self)
	}
	ec, _ := curveFor(req.Algorithm)
	keyOf := func(node string) *big.Int { return partyKey(req.Algorithm, node, 0) }
	c, err := newCommittee(req.Parties, keyOf, ec.Params().N)
	if err != nil {
		return nil, err
	}
	params := tsslib.NewParameters(ec, tsslib.NewPeerContext(c.sorted), c.byNode[e.self], n, req.Threshold)
	// tss-lib's proof checks run on this many goroutines (HeavyWorkers).
	params.SetConcurrency(e.cfg.HeavyWorkers)

	var s *session
	var party tsslib.Party
	switch req.Algorithm {
	case ECDSASecp256k1:
		if err := req.PreParams.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
		s = newSession(req.Session, "keygen", e.self, solo(c, e.self), e.tr, e.log, ecdsaKeygenPrefix, ecdsaKeygenTypes)
		end := make(chan *ecdsakeygen.LocalPartySaveData, 1)
		err = intoLib("new keygen party", c, nil, func() *tsslib.Error {
			party = ecdsakeygen.NewLocalParty(params, s.out, end, req.PreParams.p)
			return nil
		})
		s.drain = func(ctx context.Context) { drainParty(ctx, s, end) }
	case Ed25519:
		s = newSession(req.Session, "keygen", e.self, solo(c, e.self), e.tr, e.log, eddsaKeygenPrefix, eddsaKeygenTypes)
		end := make(chan *eddsakeygen.LocalPartySaveData, 1)
		err = intoLib("new keygen party", c, nil, func() *tsslib.Error {
			party = eddsakeygen.NewLocalParty(params, s.out, end)
			return nil
		})
		s.drain = func(ctx context.Context) { drainParty(ctx, s, end) }
	}
	if err != nil {
		return nil, err
	}
	s.check = newChecker(req.Algorithm, req.Threshold)
	s.gate = e.heavy
	s.parties = []tsslib.Party{party}
	res, err := e.run(ctx, s)
	if err != nil {
		return nil, err
	}
	// Keygen shares start at epoch 0; every reshare moves to the next one.
	sh := &Share{alg: req.Algorithm, threshold: req.Threshold, self: e.self,
		keys: make(map[string]*big.Int, n)}
	for _, node := range c.nodes {
		sh.keys[node] = keyOf(node)
		sh.parties = append(sh.parties, node)
	}
	slices.Sort(sh.parties)
	switch d := res.(type) {
	case *ecdsakeygen.LocalPartySaveData:
		sh.ecdsa = d
	case *eddsakeygen.LocalPartySaveData:
		sh.eddsa = d
	}
	if err := sh.validate(); err != nil {
		return nil, fmt.Errorf("tss: keygen produced an invalid share: %w", err)
	}
	return sh.own()
}
