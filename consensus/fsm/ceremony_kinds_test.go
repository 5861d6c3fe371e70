package fsm_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// kindsBase is the policy extra of the kinds tests: a tenant to delete and
// a quorum of three, so k-1 is two approvals.
const kindsBase = "tenants: [acme]\nceremonies: {default_quorum: 3}\n"

// policyParams is a policy-change or operators ceremony's params for doc.
func policyParams(t *testing.T, doc string) string {
	t.Helper()
	data, sum := policyDoc(t, doc)
	b, _ := json.Marshal(ceremony.PolicyParams{Document: data, SHA256: sum})
	return string(b)
}

// adminSetsPolicy is a direct SetPolicy of doc by the admin.
func adminSetsPolicy(doc string) func(*testing.T) fsm.Command {
	return func(t *testing.T) fsm.Command {
		data, sum := policyDoc(t, doc)
		return &fsm.SetPolicy{Document: data, SHA256: sum, Actor: spiffe("admin")}
	}
}

// policyDoc is doc's canonical JSON, as a SetPolicy carries it.
func policyDoc(t *testing.T, doc string) (string, string) {
	t.Helper()
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	data, sum, _ := p.Canonical()
	return string(data), sum
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// bootstrap is n1..n3 with addresses, as the leader fills in from
// cluster.yaml while the membership is the bootstrap set.
func bootstrap() []membership.Member {
	var out []membership.Member
	for i, id := range []string{"n1", "n2", "n3"} {
		out = append(out, *newMember(id, i+1))
	}
	return out
}

// thresholdKey creates key name, threshold 1 over n1..n3, active.
func (h *fsmHarness) thresholdKey(name string) {
	h.t.Helper()
	h.mustOK(fsm.CreateKey{RequestID: "create-" + name, Name: name, Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2", "n3"}, Actor: spiffe("kadmin")})
	for _, m := range []string{"n1", "n2", "n3"} {
		h.mustOK(fsm.ShareStored{Key: name, Version: 1, Node: m, PublicKey: fsmPub(name)})
	}
}

// kindCase is one row of the kinds test: how to get the cluster ready,
// the ceremony's params and the leader's context, the direct request the
// ceremony replaces (refused once operators are listed), and whether the
// change happened.
type kindCase struct {
	setup  func(h *fsmHarness)
	params func(t *testing.T) string
	ctx    *ceremony.Context
	direct func(t *testing.T) fsm.Command
	done   func(h *fsmHarness) bool
	// halts: this build stops at the executing entry (a protocol it does
	// not have), as it stops at the automatic raise's.
	halts bool
}

func kindCases() map[policy.CeremonyKind]kindCase {
	policyHas := func(h *fsmHarness, pred func(p *policy.Policy) bool) bool {
		st, _ := h.f.PolicyInForce()
		return pred(st.Policy)
	}
	withGlobex := ceremonyPolicy("tenants: [acme, globex]\nceremonies: {default_quorum: 3}\n")
	withDave := ceremonyPolicy(fmt.Sprintf("  dave: {public_key: %q}\n", operatorPub("dave")) + kindsBase)
	threshold := &ceremony.Context{Holders: []string{"n1", "n2", "n3"}, Committee: []string{"n1", "n2"}}
	return map[policy.CeremonyKind]kindCase{
		policy.KindKeyDestroy: {
			params: func(*testing.T) string { return destroyParams("k", 1) },
			direct: func(*testing.T) fsm.Command {
				return &fsm.ChangeKey{RequestID: "d", Op: fsm.OpDestroy, Key: "k", Version: 1, Delay: int64(time.Second), Actor: spiffe("kadmin")}
			},
			done: func(h *fsmHarness) bool { k, _ := h.f.Key("k"); return k.Version(1).Destroy != nil },
		},
		policy.KindKeyPolicy: {
			setup: func(h *fsmHarness) {
				h.mustOK(&fsm.ChangeKey{RequestID: "nodel", Op: fsm.OpPolicy, Key: "k", DeletionAllowed: new(false), Actor: spiffe("kadmin")})
			},
			params: func(*testing.T) string { return `{"key":"k","deletion_allowed":true}` },
			direct: func(*testing.T) fsm.Command {
				return &fsm.ChangeKey{RequestID: "del", Op: fsm.OpPolicy, Key: "k", DeletionAllowed: new(true), Actor: spiffe("kadmin")}
			},
			done: func(h *fsmHarness) bool { k, _ := h.f.Key("k"); return k.DeletionAllowed },
		},
		policy.KindPolicyChange: {
			params: func(t *testing.T) string { return policyParams(t, withGlobex) },
			direct: adminSetsPolicy(withGlobex),
			done: func(h *fsmHarness) bool {
				return policyHas(h, func(p *policy.Policy) bool { return slices.Contains(p.Tenants, "globex") })
			},
		},
		policy.KindOperators: {
			params: func(t *testing.T) string { return policyParams(t, withDave) },
			direct: adminSetsPolicy(withDave),
			done: func(h *fsmHarness) bool {
				return policyHas(h, func(p *policy.Policy) bool { _, ok := p.Operators["dave"]; return ok })
			},
		},
		policy.KindTenantCreate: {
			params: func(*testing.T) string { return `{"tenant":"globex"}` },
			direct: func(*testing.T) fsm.Command {
				return &fsm.CreateTenant{Tenant: "globex", Actor: spiffe("admin")}
			},
			done: func(h *fsmHarness) bool {
				return policyHas(h, func(p *policy.Policy) bool { return slices.Contains(p.Tenants, "globex") })
			},
		},
		policy.KindTenantDelete: {
			params: func(*testing.T) string { return `{"tenant":"acme"}` },
			direct: func(*testing.T) fsm.Command {
				return &fsm.DeleteTenant{Tenant: "acme", Actor: spiffe("admin")}
			},
			done: func(h *fsmHarness) bool {
				return policyHas(h, func(p *policy.Policy) bool { return !slices.Contains(p.Tenants, "acme") })
			},
		},
		policy.KindDenyRemoval: {
			setup:  func(h *fsmHarness) { h.mustOK(&fsm.RevokePrincipal{Principal: "signer", Actor: spiffe("admin")}) }, // instant
			params: func(*testing.T) string { return `{"principal":"signer"}` },
			direct: adminSetsPolicy(ceremonyPolicy(kindsBase)), // the same policy without the deny-list entry
			done: func(h *fsmHarness) bool {
				return policyHas(h, func(p *policy.Policy) bool { return !slices.Contains(p.Denied, "signer") })
			},
		},
		policy.KindUnfreeze: {
			setup:  func(h *fsmHarness) { h.mustOK(&fsm.Freeze{Reason: "drill", Actor: spiffe("admin")}) },
			params: func(*testing.T) string { return "" },
			direct: func(*testing.T) fsm.Command { return &fsm.Unfreeze{Actor: spiffe("admin")} },
			done:   func(h *fsmHarness) bool { return h.f.FrozenState() == nil },
		},
		policy.KindMembership: {
			params: func(*testing.T) string {
				n := newMember("n4", 4)
				return jsonOf(ceremony.MembershipParams{Op: membership.Add, New: &ceremony.NewMember{ID: n.ID, Raft: n.Raft, Peer: n.Peer, Client: n.Client}})
			},
			ctx: &ceremony.Context{Bootstrap: bootstrap()},
			direct: func(*testing.T) fsm.Command {
				return &fsm.ChangeMembers{Op: membership.Add, New: newMember("n4", 4), Bootstrap: bootstrap(), Actor: spiffe("admin")}
			},
			done: func(h *fsmHarness) bool { return h.f.Members()["n4"].State == membership.Joining },
		},
		policy.KindThreshold: {
			setup:  func(h *fsmHarness) { h.thresholdKey("t") },
			params: func(*testing.T) string { return `{"key":"t","threshold":2}` },
			ctx:    threshold,
			direct: func(*testing.T) fsm.Command {
				return &fsm.ReshareKey{RequestID: "rs", Key: "t", Members: threshold.Holders, Threshold: 2, Committee: threshold.Committee, Actor: spiffe("kadmin")}
			},
			done: func(h *fsmHarness) bool {
				k, _ := h.f.Key("t")
				r := k.Version(1).Refresh
				return r != nil && r.Threshold == 2 && slices.Equal(r.Members, threshold.Holders)
			},
		},
		policy.KindProtocolUpgrade: {
			setup: func(h *fsmHarness) {
				for _, m := range []string{"n1", "n2", "n3"} {
					h.mustOK(&fsm.NodeBooted{Node: m, Boot: "b", Protocol: fsm.MaxProtocol + 1})
				}
			},
			params: func(*testing.T) string { return jsonOf(ceremony.ProtocolParams{Version: fsm.MaxProtocol + 1}) },
			ctx:    &ceremony.Context{Members: []string{"n1", "n2", "n3"}},
			// The direct form is the leader's automatic RaiseProtocol, which
			// this build cannot write for a version it lacks: see
			// TestAutomaticRaiseNeedsACeremony.
			done:  func(h *fsmHarness) bool { return h.f.Halted() != nil },
			halts: true,
		},
	}
}

// TestCeremonyKindsExecuteAtQuorum walks every row of the kinds table:
// once operators are listed the direct request is refused as permission
// denied, naming the kind to propose; the ceremony's k-1 approvals change
// nothing, and the entry carrying the k-th executes the change.
func TestCeremonyKindsExecuteAtQuorum(t *testing.T) {
	cases := kindCases()
	for _, info := range policy.CeremonyKinds() {
		tc, ok := cases[info.Kind]
		if !ok {
			t.Errorf("kind %s has no case here", info.Kind)
			continue
		}
		if !info.Implemented {
			t.Errorf("kind %s is not implemented", info.Kind)
		}
		t.Run(string(info.Kind), func(t *testing.T) {
			h := ceremonyFixture(t, kindsBase)
			if tc.setup != nil {
				tc.setup(h)
			}
			if tc.direct != nil {
				res := h.mustErr(tc.direct(t), fsm.ErrCeremonyRequired)
				if !errors.Is(res.Err, policy.ErrPermissionDenied) || !strings.Contains(res.Err.Error(), "kind "+string(info.Kind)) {
					t.Fatalf("direct request: %v, want permission denied naming kind %s", res.Err, info.Kind)
				}
			}
			if tc.done(h) {
				t.Fatal("done before any ceremony")
			}
			c := h.mustOK(&fsm.ProposeCeremony{Kind: info.Kind, Params: tc.params(t), Nonce: nonce(int(h.idx)), TTL: int64(time.Hour),
				Context: tc.ctx, Actor: spiffe("admin")}).Ceremony
			if c.Quorum != 3 {
				t.Fatalf("quorum %d, want 3", c.Quorum)
			}
			for _, op := range []string{"alice", "bob"} {
				a := approval(c, op)
				a.Context = tc.ctx
				if res := h.mustOK(a); res.Ceremony.State != ceremony.Pending {
					t.Fatalf("after %s: %s", op, res.Ceremony.State)
				}
			}
			if tc.done(h) {
				t.Fatalf("executed at k-1 = %d approvals", c.Quorum-1)
			}
			a := approval(c, "carol")
			a.Context = tc.ctx
			res := h.apply(a)
			switch {
			case tc.halts:
				if !errors.Is(res.Err, fsm.ErrUnsupportedProtocol) {
					t.Fatalf("k-th approval: %v, want this build to stop at it", res.Err)
				}
			case res.Err != nil || res.Ceremony.State != ceremony.Executed:
				t.Fatalf("k-th approval: %v %+v", res.Err, res.Ceremony)
			}
			if !tc.done(h) {
				t.Fatal("the k-th approval did not execute the change")
			}
		})
	}
}

// TestCeremonyKindsRecheckAtExecution: the new kinds' preconditions are
// checked again by the executing entry; one that stopped holding fails the
// ceremony and executes nothing.
func TestCeremonyKindsRecheckAtExecution(t *testing.T) {
	ready := func(t *testing.T, h *fsmHarness, kind policy.CeremonyKind, params string, ctx *ceremony.Context) *ceremony.Ceremony {
		t.Helper()
		c := h.mustOK(&fsm.ProposeCeremony{Kind: kind, Params: params, Nonce: nonce(int(h.idx)), TTL: int64(time.Hour),
			Context: ctx, Actor: spiffe("admin")}).Ceremony
		for _, op := range []string{"alice", "bob"} {
			a := approval(c, op)
			a.Context = ctx
			h.mustOK(a)
		}
		return c
	}
	last := func(t *testing.T, h *fsmHarness, c *ceremony.Ceremony, ctx *ceremony.Context, want error) {
		t.Helper()
		a := approval(c, "carol")
		a.Context = ctx
		res := h.mustErr(a, fsm.ErrCeremonyFailed)
		if !errors.Is(res.Err, want) || res.Ceremony.State != ceremony.Failed {
			t.Fatalf("%v %+v, want failed with %v", res.Err, res.Ceremony, want)
		}
	}
	t.Run("membership", func(t *testing.T) {
		h := ceremonyFixture(t, kindsBase)
		cases := kindCases()
		ctx := &ceremony.Context{Bootstrap: bootstrap()}
		add := ready(t, h, policy.KindMembership, cases[policy.KindMembership].params(t), ctx)
		n5 := newMember("n5", 5)
		other := ready(t, h, policy.KindMembership, jsonOf(ceremony.MembershipParams{Op: membership.Add,
			New: &ceremony.NewMember{ID: n5.ID, Raft: n5.Raft, Peer: n5.Peer, Client: n5.Client}}), ctx)
		a := approval(add, "carol")
		a.Context = ctx
		h.mustOK(a)
		// One membership change at a time: n4 is joining.
		last(t, h, other, nil, fsm.ErrBadTransition)
		if _, ok := h.f.Members()["n5"]; ok {
			t.Fatal("the failed ceremony added n5")
		}
	})
	t.Run("threshold", func(t *testing.T) {
		h := ceremonyFixture(t, kindsBase)
		h.thresholdKey("t")
		ctx := kindCases()[policy.KindThreshold].ctx
		c := ready(t, h, policy.KindThreshold, `{"key":"t","threshold":2}`, ctx)
		// A refresh at the same threshold stays direct, and is running now.
		h.mustOK(&fsm.ReshareKey{RequestID: "refresh", Key: "t", Members: ctx.Holders, Threshold: 1, Committee: ctx.Committee, Actor: spiffe("kadmin")})
		last(t, h, c, ctx, fsm.ErrBadTransition)
		if k, _ := h.f.Key("t"); k.Version(1).Refresh.Threshold != 0 {
			t.Fatalf("the failed ceremony changed the refresh: %+v", k.Version(1).Refresh)
		}
		// An approval without the leader's holders cannot execute it.
		h2 := ceremonyFixture(t, kindsBase)
		h2.thresholdKey("t")
		c = ready(t, h2, policy.KindThreshold, `{"key":"t","threshold":2}`, nil)
		last(t, h2, c, nil, fsm.ErrInvalidCommand)
	})
	t.Run("protocol-upgrade", func(t *testing.T) {
		h := ceremonyFixture(t, kindsBase)
		next := fsm.MaxProtocol + 1
		for _, m := range []string{"n1", "n2", "n3"} {
			h.mustOK(&fsm.NodeBooted{Node: m, Boot: "b", Protocol: next})
		}
		h.mustErr(&fsm.ProposeCeremony{Kind: policy.KindProtocolUpgrade, Params: jsonOf(ceremony.ProtocolParams{Version: fsm.ProtocolV2}),
			Nonce: nonce(90), TTL: int64(time.Hour), Actor: spiffe("admin")}, fsm.ErrBadTransition) // the cluster runs it
		ctx := &ceremony.Context{Members: []string{"n1", "n2", "n3"}}
		c := ready(t, h, policy.KindProtocolUpgrade, jsonOf(ceremony.ProtocolParams{Version: next}), ctx)
		// n3 went back to an older build.
		h.mustOK(&fsm.NodeBooted{Node: "n3", Boot: "c", Protocol: fsm.MaxProtocol})
		last(t, h, c, ctx, fsm.ErrBadTransition)
		if h.f.Halted() != nil || h.f.Protocol() != fsm.MaxProtocol {
			t.Fatalf("protocol %d, halted %v", h.f.Protocol(), h.f.Halted())
		}
	})
}

// TestAutomaticRaiseNeedsACeremony: once operators are listed the leader's
// RaiseProtocol is refused, naming the kind. This build cannot encode a
// raise past its own version, so the entry is written by hand.
func TestAutomaticRaiseNeedsACeremony(t *testing.T) {
	h := ceremonyFixture(t, kindsBase)
	body := jsonOf(fsm.RaiseProtocol{Version: fsm.MaxProtocol + 1, Members: []string{"n1", "n2", "n3"}})
	data := fmt.Sprintf(`{"v":%d,"type":%q,"body":%s}`, fsm.MaxProtocol, fsm.TypeRaiseProtocol, body)
	h.idx++
	res := h.f.Apply(&raft.Log{Index: h.idx, Type: raft.LogCommand, Data: []byte(data)}).(fsm.Result)
	if !errors.Is(res.Err, fsm.ErrCeremonyRequired) || !strings.Contains(res.Err.Error(), "kind "+string(policy.KindProtocolUpgrade)) {
		t.Fatalf("automatic raise with operators listed: %v", res.Err)
	}
}

// TestCeremonyQuorumChangeNeedsOldQuorum: changing a quorum, or who may
// approve, is an operators ceremony at the old quorum of every kind it
// changes; a document that takes a principal off the deny-list needs
// deny-removal's quorum.
func TestCeremonyQuorumChangeNeedsOldQuorum(t *testing.T) {
	rules := "ceremonies: {default_quorum: 2, key-destroy: {quorum: 3}, deny-removal: {quorum: 3}}\n"
	h := ceremonyFixture(t, rules)
	// Lowering key-destroy from 3 to 1 takes key-destroy's 3, not the
	// operators kind's 2.
	lower := ceremonyPolicy("ceremonies: {default_quorum: 2, key-destroy: {quorum: 1}, deny-removal: {quorum: 3}}\n")
	c := h.propose(policy.KindOperators, policyParams(t, lower), "admin", time.Hour)
	if c.Quorum != 3 {
		t.Fatalf("lowering key-destroy's quorum: ceremony quorum %d, want the old 3", c.Quorum)
	}
	h.mustOK(approval(c, "alice"))
	h.mustOK(approval(c, "bob"))
	if got, _ := h.f.Ceremony(c.ID); got.State != ceremony.Pending {
		t.Fatalf("executed at 2 of 3: %s", got.State)
	}
	h.mustOK(approval(c, "carol"))
	if st, _ := h.f.PolicyInForce(); st.Policy.Ceremonies.Kinds[policy.KindKeyDestroy].Quorum != 1 {
		t.Fatalf("key-destroy rule after the ceremony: %+v", st.Policy.Ceremonies.Kinds)
	}
	// Raising the default from 2 to 3 takes the old default, 2, and from
	// then on the operators kind needs 3.
	raise := ceremonyPolicy("ceremonies: {default_quorum: 3, key-destroy: {quorum: 1}, deny-removal: {quorum: 3}}\n")
	c = h.propose(policy.KindOperators, policyParams(t, raise), "admin", time.Hour)
	if c.Quorum != 2 {
		t.Fatalf("raising the default: ceremony quorum %d, want the old 2", c.Quorum)
	}
	h.mustOK(approval(c, "alice"))
	if res := h.mustOK(approval(c, "bob")); res.Ceremony.State != ceremony.Executed {
		t.Fatalf("raise at the old quorum: %+v", res.Ceremony)
	}
	back := ceremonyPolicy("ceremonies: {default_quorum: 2, key-destroy: {quorum: 1}, deny-removal: {quorum: 3}}\n")
	if c = h.propose(policy.KindOperators, policyParams(t, back), "admin", time.Hour); c.Quorum != 3 {
		t.Fatalf("lowering the default back: quorum %d, want the new old 3", c.Quorum)
	}
	// A policy-change that takes signer off the deny-list needs 3, as a
	// deny-removal does; the direct SetPolicy names deny-removal.
	h.mustOK(&fsm.RevokePrincipal{Principal: "signer", Actor: spiffe("admin")})
	undeny := "tenants: [acme]\n" + raise
	c = h.propose(policy.KindPolicyChange, policyParams(t, undeny), "admin", time.Hour)
	if c.Quorum != 3 {
		t.Fatalf("a policy-change removing a deny-list entry: quorum %d, want deny-removal's 3", c.Quorum)
	}
	doc, sum := policyDoc(t, raise)
	res := h.mustErr(&fsm.SetPolicy{Document: doc, SHA256: sum, Actor: spiffe("admin")}, fsm.ErrCeremonyRequired)
	if !strings.Contains(res.Err.Error(), "kind "+string(policy.KindDenyRemoval)) {
		t.Fatalf("direct deny-list removal: %v", res.Err)
	}
}
