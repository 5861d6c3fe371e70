package tss

import (
	"fmt"
	"slices"

	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// wiring maps between the node IDs the transport knows and the tss-lib
// PartyIDs of one session's local parties. Keygen and signing run one local
// party per node (soloWiring); resharing may run two, one per committee
// (reshareWiring). Implementations are immutable after construction and safe
// for concurrent use.
type wiring interface {
	// inbound resolves a message of type msgType from the authenticated node
	// from: the sender's PartyID and the indexes of the local parties it is
	// for. Errors wrap ErrNotMember or ErrBadMessage.
	inbound(from, msgType string) (*tsslib.PartyID, []int, error)
	// outbound resolves a message one of this node's local parties emitted.
	outbound(msgType string, r *tsslib.MessageRouting) (delivery, error)
	// names maps PartyIDs to node IDs, deduplicated, skipping unknown ones.
	names(ps []*tsslib.PartyID) []string
	// members returns every node of the session, this one included, sorted.
	members() []string
	// senders is how many distinct senders may fill inbox slots: the other
	// members, plus this node when its local parties talk to each other.
	senders() int
}

// delivery is where one outbound message goes: other nodes over the
// transport, and other local parties of this node (resharing, when this node
// is in both committees).
type delivery struct {
	nodes     []string
	broadcast bool
	local     []int
}

// soloWiring is a session with one local party and one committee.
type soloWiring struct {
	*committee
	self string
}

func solo(c *committee, self string) *soloWiring { return &soloWiring{committee: c, self: self} }

func (w *soloWiring) inbound(from, _ string) (*tsslib.PartyID, []int, error) {
	pid, ok := w.byNode[from]
	if !ok || from == w.self {
		return nil, nil, fmt.Errorf("%w: %q", ErrNotMember, from)
	}
	return pid, []int{0}, nil
}

// outbound lists every other member for a broadcast so the transport needs
// no committee knowledge.
func (w *soloWiring) outbound(_ string, r *tsslib.MessageRouting) (delivery, error) {
	d := delivery{broadcast: r.IsBroadcast}
	if r.IsBroadcast || len(r.To) == 0 {
		d.broadcast = true
		for _, n := range w.nodes {
			if n != w.self {
				d.nodes = append(d.nodes, n)
			}
		}
		return d, nil
	}
	for _, n := range w.names(r.To) {
		if n != w.self {
			d.nodes = append(d.nodes, n)
		}
	}
	return d, nil
}

func (w *soloWiring) senders() int { return len(w.nodes) - 1 }

func (w *soloWiring) members() []string {
	out := slices.Clone(w.nodes)
	slices.Sort(out)
	return out
}
