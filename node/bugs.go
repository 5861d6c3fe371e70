package node

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/peer"
	"github.com/keyquorum/keyquorum/node/service"
)

// Bugs are deliberate faults for proving that the fault-injection harness
// can fail. They exist only in binaries built with the kqd_bugs tag; in any
// other build bugsCompiled is false, every check below is constant false,
// and the compiler drops the faulty paths.
type Bugs struct {
	// StaleRead makes GetKey and ListKeys answer from this node's local
	// state: no forwarding to the leader, no linearizable read.
	StaleRead bool
	// SkipDedup makes a Sign retried with a known request id sign again
	// instead of returning the stored signature.
	SkipDedup bool
	// RevokedSigns acknowledges a revocation before it is in the log and
	// appends it two seconds later, so the revoked version keeps signing
	// after the caller was told it stopped.
	RevokedSigns bool
	// UnboundedTime makes the leader stamp entries with its own clock
	// alone, as keyquorum did before the quorum clock bound: a leader whose
	// clock runs ahead moves replicated time forward for good.
	UnboundedTime bool
	// LeaderBypass makes the leader act as a compromised one: for a sign
	// request whose id starts with "forged-" it appends a sign entry with
	// a forged handle, and although its own replica refuses the entry it
	// starts its part of the session and announces the attempt to the
	// committee, logging any signature that comes of it.
	LeaderBypass bool
	// TrustAnnounce makes a committee member start its part of a signing
	// attempt on the leader's announcement, before its own replica applied
	// and accepted the entry (keyquorum's former early start). With
	// LeaderBypass it shows the attack succeed.
	TrustAnnounce bool
	// FrostNonceReuse makes a member draw every FROST nonce pair from the
	// same bytes, so it signs again and again with one nonce pair under
	// fresh commitment ids: the single-use rule broken on the member, where
	// the FSM cannot see it.
	FrostNonceReuse bool
	// EarlyVoter makes the leader promote a joining member to a raft
	// voter as soon as it is caught up, before its shares of every key
	// are confirmed: a quorum could then rest on a member that cannot sign.
	EarlyVoter bool
	// DropMessage makes a member lose the first round message of every
	// session to each peer: written down as sent, never written. Delivery
	// must still be at least once: sessions complete, they do not stall.
	DropMessage bool
	// CeremonyUndercount makes every replica execute an operator quorum
	// ceremony one approval short of its quorum (the FSM's
	// FSMConfig.CeremonyUndercount); offline verification of the audit
	// export catches it.
	CeremonyUndercount bool
	// MaliciousMember makes this member send a malformed round message in
	// the sessions of a request whose id starts with "malice-<shape>-"
	// (a key's creation or a signature; shapes in package tss/malice):
	// the member running modified code that the inbound checks of
	// tss/msgcheck.go stand against. Its honest peers must end the
	// session naming it, stay up, and blame it.
	MaliciousMember bool
	// FloodMessages makes this member write junk round messages, for
	// sessions that never start, to every peer as fast as its links
	// take them (keeping room for its real messages): the per-sender
	// bounds must drop the flood and keep other sessions' latency.
	FloodMessages bool
	// AuthzSkip makes every replica skip the signer-role check of a sign
	// request (the FSM's FSMConfig.AuthzSkip): a key-admin or auditor of
	// the key's tenant holding a handle gets a signature. The kqjepsen
	// authz workload's checker catches it.
	AuthzSkip bool
}

// bugSwitches names every bug, in the order the help texts list them.
func bugSwitches(b *Bugs) []struct {
	name string
	on   *bool
} {
	return []struct {
		name string
		on   *bool
	}{
		{"stale-read", &b.StaleRead},
		{"skip-dedup", &b.SkipDedup},
		{"revoked-signs", &b.RevokedSigns},
		{"unbounded-time", &b.UnboundedTime},
		{"leader-bypass", &b.LeaderBypass},
		{"trust-announce", &b.TrustAnnounce},
		{"frost-nonce-reuse", &b.FrostNonceReuse},
		{"early-voter", &b.EarlyVoter},
		{"drop-message", &b.DropMessage},
		{"ceremony-undercount", &b.CeremonyUndercount},
		{"malicious-member", &b.MaliciousMember},
		{"flood-messages", &b.FloodMessages},
		{"authz-skip", &b.AuthzSkip},
	}
}

// BugNames lists every deliberate bug ParseBugs knows, comma-separated.
func BugNames() string {
	var names []string
	for _, s := range bugSwitches(&Bugs{}) {
		names = append(names, s.name)
	}
	return strings.Join(names, ",")
}

// ParseBugs reads a comma-separated list such as "stale-read,skip-dedup".
func ParseBugs(list string) (Bugs, error) {
	var b Bugs
	if list == "" {
		return b, nil
	}
	if !bugsCompiled {
		return b, fmt.Errorf("node: this build has no deliberate bugs (build with -tags kqd_bugs)")
	}
	switches := bugSwitches(&b)
next:
	for _, name := range strings.Split(list, ",") {
		for _, s := range switches {
			if s.name == strings.TrimSpace(name) {
				*s.on = true
				continue next
			}
		}
		return b, fmt.Errorf("node: unknown bug %q (%s)", name, BugNames())
	}
	return b, nil
}

func (b Bugs) staleRead() bool     { return bugsCompiled && b.StaleRead }
func (b Bugs) skipDedup() bool     { return bugsCompiled && b.SkipDedup }
func (b Bugs) revokedSigns() bool  { return bugsCompiled && b.RevokedSigns }
func (b Bugs) unboundedTime() bool { return bugsCompiled && b.UnboundedTime }
func (b Bugs) earlyVoter() bool    { return bugsCompiled && b.EarlyVoter }
func (b Bugs) leaderBypass() bool  { return bugsCompiled && b.LeaderBypass }
func (b Bugs) trustAnnounce() bool { return bugsCompiled && b.TrustAnnounce }
func (b Bugs) frostNonceReuse() bool {
	return bugsCompiled && b.FrostNonceReuse
}
func (b Bugs) dropMessage() bool     { return bugsCompiled && b.DropMessage }
func (b Bugs) maliciousMember() bool { return bugsCompiled && b.MaliciousMember }
func (b Bugs) floodMessages() bool   { return bugsCompiled && b.FloodMessages }

// peerFaults are the deliberate faults of this node's peer links.
func (n *Node) peerFaults() peer.Faults {
	f := peer.Faults{DropMessage: n.bugs.dropMessage(), Flood: n.bugs.floodMessages()}
	if n.bugs.maliciousMember() {
		f.Outbound = n.malice.outbound
	}
	return f
}

// serviceFaults are the bugs the client services take part in.
func (n *Node) serviceFaults() service.Faults {
	f := service.Faults{StaleRead: n.bugs.staleRead(), SkipDedup: n.bugs.skipDedup()}
	if n.bugs.revokedSigns() {
		f.RevokeLater = func(cmd *fsm.ChangeKey) {
			n.spawn(func() {
				time.Sleep(2 * time.Second)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				n.propose(ctx, cmd)
			})
		}
	}
	if n.bugs.leaderBypass() {
		f.ForgeSign = func(ctx context.Context, req *kqpb.SignRequest) (*kqpb.SignResponse, bool, error) {
			if !strings.HasPrefix(req.RequestId, forgedPrefix) {
				return nil, false, nil
			}
			resp, err := n.forgeSign(ctx, req)
			return resp, true, err
		}
	}
	return f
}
