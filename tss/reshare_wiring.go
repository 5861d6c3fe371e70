package tss

import (
	"fmt"
	"slices"
	"strings"

	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// Resharing message prefixes and type counts, from tss-lib's protob/.
const (
	ecdsaResharePrefix = "binance.tsslib.ecdsa.resharing."
	eddsaResharePrefix = "binance.tsslib.eddsa.resharing."
	ecdsaReshareTypes  = 7
	eddsaReshareTypes  = 5
)

// reshareRoute is which committee sends a resharing message type and which
// committee(s) receive it. tss-lib marks the receivers in the routing of the
// message it emits (IsToOldCommittee, IsToOldAndNewCommittees), but those
// flags are not part of the wire bytes, so the receiving node derives them
// from the type; the sending node checks that both agree.
type reshareRoute struct {
	fromOld bool
	toOld   bool
	toNew   bool
}

// reshareRouteOf returns the route of a resharing message type of alg.
func reshareRouteOf(alg Algorithm, msgType string) (reshareRoute, bool) {
	oldToNew := reshareRoute{fromOld: true, toNew: true}
	newToNew := reshareRoute{toNew: true}
	newToOld := reshareRoute{toOld: true}
	newToBoth := reshareRoute{toOld: true, toNew: true}
	switch alg {
	case ECDSASecp256k1:
		switch strings.TrimPrefix(msgType, ecdsaResharePrefix) {
		case "DGRound1Message", "DGRound3Message1", "DGRound3Message2":
			return oldToNew, true
		case "DGRound2Message1", "DGRound4Message1":
			return newToNew, true
		case "DGRound2Message2":
			return newToOld, true
		case "DGRound4Message2":
			return newToBoth, true
		}
	case Ed25519:
		switch strings.TrimPrefix(msgType, eddsaResharePrefix) {
		case "DGRound1Message", "DGRound3Message1", "DGRound3Message2":
			return oldToNew, true
		case "DGRound2Message":
			return newToOld, true
		case "DGRound4Message":
			return newToBoth, true
		}
	}
	return reshareRoute{}, false
}

// reshareEndpoint is one tss-lib party of a resharing session: a node in
// the old or the new committee.
type reshareEndpoint struct {
	node string
	old  bool
}

// reshareWiring connects the old committee (t+1 current holders, party keys
// of the old epoch) and the new committee (all new holders, party keys of
// the new epoch). This node runs one local party per committee it is in;
// roles[i] tells whether local party i is the old one. Party keys differ
// between epochs, so a PartyID's key names its node and committee.
type reshareWiring struct {
	alg   Algorithm
	self  string
	old   *committee
	new   *committee
	roles []bool
	byKey map[string]reshareEndpoint
}

func newReshareWiring(alg Algorithm, self string, old, new *committee) (*reshareWiring, error) {
	w := &reshareWiring{alg: alg, self: self, old: old, new: new,
		byKey: make(map[string]reshareEndpoint, len(old.sorted)+len(new.sorted))}
	for _, c := range []struct {
		c   *committee
		old bool
	}{{old, true}, {new, false}} {
		for _, p := range c.c.sorted {
			k := string(p.Key)
			if _, dup := w.byKey[k]; dup {
				return nil, invalidf("old and new committee share a party key (same epoch?)")
			}
			w.byKey[k] = reshareEndpoint{node: p.Id, old: c.old}
		}
		if _, in := c.c.byNode[self]; in {
			w.roles = append(w.roles, c.old)
		}
	}
	if len(w.roles) == 0 {
		return nil, invalidf("this node %q is in neither committee", self)
	}
	return w, nil
}

// local returns the index of this node's party in the old or new committee, or -1.
func (w *reshareWiring) local(old bool) int {
	return slices.Index(w.roles, old)
}

func (w *reshareWiring) inbound(from, msgType string) (*tsslib.PartyID, []int, error) {
	rt, ok := reshareRouteOf(w.alg, msgType)
	if !ok {
		return nil, nil, fmt.Errorf("%w: unknown resharing message %q from %q", ErrBadMessage, msgType, from)
	}
	sender := w.new
	if rt.fromOld {
		sender = w.old
	}
	pid, ok := sender.byNode[from]
	if !ok || from == w.self {
		return nil, nil, fmt.Errorf("%w: %q", ErrNotMember, from)
	}
	var to []int
	for i, old := range w.roles {
		if (old && rt.toOld) || (!old && rt.toNew) {
			to = append(to, i)
		}
	}
	if len(to) == 0 {
		return nil, nil, fmt.Errorf("%w: %q from %q is not for this node", ErrBadMessage, msgType, from)
	}
	return pid, to, nil
}

// outbound maps tss-lib's recipients (PartyIDs of either committee) to other
// nodes and to this node's other local party. A node in both committees
// receives one copy of a message meant for both of its parties.
func (w *reshareWiring) outbound(msgType string, r *tsslib.MessageRouting) (delivery, error) {
	rt, ok := reshareRouteOf(w.alg, msgType)
	if !ok {
		return delivery{}, fmt.Errorf("tss: reshare: unknown message type %q", msgType)
	}
	toOld := r.IsToOldCommittee || r.IsToOldAndNewCommittees
	toNew := !r.IsToOldCommittee || r.IsToOldAndNewCommittees
	if r.From == nil || toOld != rt.toOld || toNew != rt.toNew {
		return delivery{}, fmt.Errorf("tss: reshare: routing of %q does not match the protocol", msgType)
	}
	from, ok := w.byKey[string(r.From.Key)]
	if !ok || from.node != w.self || from.old != rt.fromOld {
		return delivery{}, fmt.Errorf("tss: reshare: %q from an unexpected party", msgType)
	}
	if len(r.To) == 0 {
		return delivery{}, fmt.Errorf("tss: reshare: %q has no recipients", msgType)
	}
	d := delivery{broadcast: r.IsBroadcast}
	for _, p := range r.To {
		if p == nil {
			continue
		}
		to, ok := w.byKey[string(p.Key)]
		if !ok || (to.old && !toOld) || (!to.old && !toNew) {
			return delivery{}, fmt.Errorf("tss: reshare: %q addressed outside its committee", msgType)
		}
		switch {
		case to.node != w.self:
			if !slices.Contains(d.nodes, to.node) {
				d.nodes = append(d.nodes, to.node)
			}
		case to.old != from.old:
			d.local = append(d.local, w.local(to.old))
		}
		// A message to the sending party itself (tss-lib lists it in
		// DGRound4 recipients) is already stored by that party.
	}
	return d, nil
}

func (w *reshareWiring) names(ps []*tsslib.PartyID) []string {
	var out []string
	for _, p := range ps {
		if p == nil || p.MessageWrapper_PartyID == nil {
			continue
		}
		_, inOld := w.old.byNode[p.Id]
		_, inNew := w.new.byNode[p.Id]
		if (inOld || inNew) && !slices.Contains(out, p.Id) {
			out = append(out, p.Id)
		}
	}
	return out
}

func (w *reshareWiring) members() []string {
	out := slices.Clone(w.old.nodes)
	for _, n := range w.new.nodes {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// senders counts the other members, plus this node when it runs a party in
// each committee (they message each other through the inbox).
func (w *reshareWiring) senders() int {
	n := len(w.members()) - 1
	if len(w.roles) == 2 {
		n++
	}
	return n
}
