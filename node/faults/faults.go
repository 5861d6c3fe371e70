// Package faults holds keyquorum's deliberate faults, and only those: the
// bugs a kqd_bugs build can switch on (Bugs, Parse), which exist to
// prove that the fault-injection harness can fail, and the malicious
// member the malicious-member bug plays (Malice). In any other build
// Compiled is false, every check of a bug is constant false, and the
// compiler drops the faulty paths. The node wires each bug into the
// package it breaks.
package faults

import (
	"fmt"
	"strings"
)

// Bugs are deliberate faults for proving that the fault-injection harness
// can fail. They exist only in binaries built with the kqd_bugs tag: read
// them through the On methods, which are constant false in any other
// build.
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

// switches names every bug, in the order the help texts list them.
func switches(b *Bugs) []struct {
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

// Names lists every deliberate bug Parse knows, comma-separated.
func Names() string {
	var names []string
	for _, s := range switches(&Bugs{}) {
		names = append(names, s.name)
	}
	return strings.Join(names, ",")
}

// Parse reads a comma-separated list such as "stale-read,skip-dedup".
// Its errors keep the "node:" prefix kqd has always printed.
func Parse(list string) (Bugs, error) {
	var b Bugs
	if list == "" {
		return b, nil
	}
	if !Compiled {
		return b, fmt.Errorf("node: this build has no deliberate bugs (build with -tags kqd_bugs)")
	}
	all := switches(&b)
next:
	for _, name := range strings.Split(list, ",") {
		for _, s := range all {
			if s.name == strings.TrimSpace(name) {
				*s.on = true
				continue next
			}
		}
		return b, fmt.Errorf("node: unknown bug %q (%s)", name, Names())
	}
	return b, nil
}

// The On methods tell whether a bug is switched on: always false outside
// kqd_bugs builds, whatever the fields say, so the compiler drops the
// faulty path behind each.

func (b Bugs) StaleReadOn() bool          { return Compiled && b.StaleRead }
func (b Bugs) SkipDedupOn() bool          { return Compiled && b.SkipDedup }
func (b Bugs) RevokedSignsOn() bool       { return Compiled && b.RevokedSigns }
func (b Bugs) UnboundedTimeOn() bool      { return Compiled && b.UnboundedTime }
func (b Bugs) LeaderBypassOn() bool       { return Compiled && b.LeaderBypass }
func (b Bugs) TrustAnnounceOn() bool      { return Compiled && b.TrustAnnounce }
func (b Bugs) FrostNonceReuseOn() bool    { return Compiled && b.FrostNonceReuse }
func (b Bugs) EarlyVoterOn() bool         { return Compiled && b.EarlyVoter }
func (b Bugs) DropMessageOn() bool        { return Compiled && b.DropMessage }
func (b Bugs) CeremonyUndercountOn() bool { return Compiled && b.CeremonyUndercount }
func (b Bugs) MaliciousMemberOn() bool    { return Compiled && b.MaliciousMember }
func (b Bugs) FloodMessagesOn() bool      { return Compiled && b.FloodMessages }
func (b Bugs) AuthzSkipOn() bool          { return Compiled && b.AuthzSkip }
