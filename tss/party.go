package tss

import (
	"crypto/sha256"
	"encoding/binary"
	"math/big"

	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

const partyKeyDomain = "keyquorum/party/v1"

// partyKey derives a member's tss-lib party key (which keygen and resharing
// also use as its Shamir share ID) from its node ID and the share epoch:
// SHA-256 over the length-prefixed domain tag and node ID, followed for
// epoch > 0 by the length-prefixed big-endian epoch, reduced mod the curve
// order so the key is the evaluation point itself. Epoch 0 hashes exactly
// what keygen always hashed, so shares created before epochs existed keep
// their keys. Every reshare moves a key to the next epoch, so the old and the
// new committee never share a party key (tss-lib requires that). Keys are
// public; newCommittee rejects zero and colliding keys.
func partyKey(alg Algorithm, nodeID string, epoch uint32) *big.Int {
	h := sha256.New()
	var n [8]byte
	fields := [][]byte{[]byte(partyKeyDomain), []byte(nodeID)}
	if epoch > 0 {
		fields = append(fields, binary.BigEndian.AppendUint32(nil, epoch))
	}
	for _, f := range fields {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	ec, _ := curveFor(alg)
	return new(big.Int).Mod(new(big.Int).SetBytes(h.Sum(nil)), ec.Params().N)
}

// committee is one session's members as fresh tss-lib PartyIDs. PartyIDs are
// rebuilt for every session because sorting rewrites their Index.
type committee struct {
	sorted tsslib.SortedPartyIDs
	byNode map[string]*tsslib.PartyID
	nodes  []string // in sorted (tss-lib index) order
}

// newCommittee validates the members and builds sorted PartyIDs. keyOf gives
// each member's party key; order and curve bound the keys (they become
// Shamir evaluation points, so they must be non-zero and distinct mod order).
func newCommittee(members []string, keyOf func(string) *big.Int, order *big.Int) (*committee, error) {
	if len(members) < 2 {
		return nil, invalidf("committee needs at least 2 members, got %d", len(members))
	}
	seenNode := make(map[string]bool, len(members))
	seenKey := make(map[string]bool, len(members))
	ids := make(tsslib.UnSortedPartyIDs, 0, len(members))
	for _, m := range members {
		if m == "" {
			return nil, invalidf("empty member id")
		}
		if seenNode[m] {
			return nil, invalidf("member %q listed twice", m)
		}
		seenNode[m] = true
		k := keyOf(m)
		if k == nil || k.Sign() <= 0 {
			return nil, invalidf("member %q has no party key", m)
		}
		red := new(big.Int).Mod(k, order)
		if red.Sign() == 0 || seenKey[red.String()] {
			return nil, invalidf("member %q has a zero or colliding party key", m)
		}
		seenKey[red.String()] = true
		ids = append(ids, tsslib.NewPartyID(m, m, k))
	}
	c := &committee{sorted: tsslib.SortPartyIDs(ids), byNode: make(map[string]*tsslib.PartyID, len(members))}
	for _, p := range c.sorted {
		c.byNode[p.Id] = p
		c.nodes = append(c.nodes, p.Id)
	}
	return c, nil
}

// names maps PartyIDs back to node IDs, skipping unknown ones.
func (c *committee) names(ps []*tsslib.PartyID) []string {
	var out []string
	for _, p := range ps {
		if p == nil || p.MessageWrapper_PartyID == nil {
			continue
		}
		if _, ok := c.byNode[p.Id]; ok {
			out = append(out, p.Id)
		}
	}
	return out
}
