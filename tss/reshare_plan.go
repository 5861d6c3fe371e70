package tss

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"
)

// planReshare validates a ReshareRequest against this node and builds the
// two committees. On success with this node dealing, plan.oldShare is a
// deep copy of req.Share that the caller must Wipe.
func (e *Engine) planReshare(req ReshareRequest) (*resharePlan, error) {
	alg := req.Algorithm
	if !alg.Valid() {
		return nil, invalidf("algorithm %d", alg)
	}
	if req.Epoch == 0 {
		return nil, invalidf("reshare epoch must be at least 1 (old epoch + 1)")
	}
	oldEpoch := req.Epoch - 1
	if err := distinctNodes("old parties", req.OldParties); err != nil {
		return nil, err
	}
	if err := distinctNodes("old committee", req.OldCommittee); err != nil {
		return nil, err
	}
	if err := distinctNodes("new parties", req.NewParties); err != nil {
		return nil, err
	}
	for _, m := range req.OldCommittee {
		if !slices.Contains(req.OldParties, m) {
			return nil, invalidf("old committee member %q is not an old party", m)
		}
	}
	// The old committee is exactly t+1 holders, so it names t.
	oldT := len(req.OldCommittee) - 1
	if oldT < 1 || oldT >= len(req.OldParties) {
		return nil, invalidf("old committee of %d for %d old parties", len(req.OldCommittee), len(req.OldParties))
	}
	n := len(req.NewParties)
	if req.NewThreshold < 1 || req.NewThreshold >= n {
		return nil, invalidf("new threshold %d for %d new parties", req.NewThreshold, n)
	}
	deals := slices.Contains(req.OldCommittee, e.self)
	receives := slices.Contains(req.NewParties, e.self)
	if !deals && !receives {
		return nil, invalidf("this node %q is neither in the old committee nor a new party", e.self)
	}
	pub := req.PublicKey
	if sh := req.Share; sh != nil {
		if sh.wiped {
			return nil, invalidf("share wiped")
		}
		if sh.self != e.self {
			return nil, invalidf("share belongs to %q, not this node %q", sh.self, e.self)
		}
		if sh.alg != alg || sh.epoch != oldEpoch || sh.threshold != oldT {
			return nil, invalidf("share (%s, epoch %d, threshold %d) does not match the request (%s, epoch %d, threshold %d)",
				sh.alg, sh.epoch, sh.threshold, alg, oldEpoch, oldT)
		}
		want := slices.Sorted(slices.Values(req.OldParties))
		if !slices.Equal(sh.parties, want) {
			return nil, invalidf("share parties differ from the old parties")
		}
		if pub != nil && !bytes.Equal(pub, sh.pub) {
			return nil, invalidf("public key differs from the share's")
		}
		pub = sh.pub
	} else if deals {
		return nil, invalidf("an old committee member needs its share")
	}
	if len(pub) != publicKeyLen(alg) {
		return nil, invalidf("public key of %d bytes for %s", len(pub), alg)
	}
	if receives && alg == ECDSASecp256k1 {
		if err := req.PreParams.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
	}
	order := curveOrder(alg)
	oldC, err := newCommittee(req.OldCommittee, func(node string) *big.Int { return partyKey(alg, node, oldEpoch) }, order)
	if err != nil {
		return nil, err
	}
	newC, err := newCommittee(req.NewParties, func(node string) *big.Int { return partyKey(alg, node, req.Epoch) }, order)
	if err != nil {
		return nil, err
	}
	w, err := newReshareWiring(alg, e.self, oldC, newC)
	if err != nil {
		return nil, err
	}
	p := &resharePlan{alg: alg, oldT: oldT, pub: slices.Clone(pub), w: w}
	if deals {
		// tss-lib zeroes the dealer's Xi in place: hand it a deep copy.
		if p.oldShare, err = req.Share.clone(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// distinctNodes checks a node list is non-empty with distinct, non-empty IDs.
func distinctNodes(what string, nodes []string) error {
	if len(nodes) == 0 {
		return invalidf("no %s", what)
	}
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		if n == "" || seen[n] {
			return invalidf("%s: empty or repeated node ID", what)
		}
		seen[n] = true
	}
	return nil
}

// publicKeyLen is the length of Share.PublicKey for alg.
func publicKeyLen(alg Algorithm) int {
	if alg == Ed25519 {
		return 32
	}
	return 33
}
