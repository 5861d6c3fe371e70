package fsm_test

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// operatorKey is a fixed approval key per operator name, so tests are
// reproducible.
func operatorKey(name string) ed25519.PrivateKey {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, name)
	return ed25519.NewKeyFromSeed(seed)
}

func operatorPub(name string) string {
	return audit.FormatApprovalKey(operatorKey(name).Public().(ed25519.PublicKey))
}

// ceremonyPolicy lists operators alice, bob and carol (quorum 2 by
// default), a key-admin and the bootstrap admin; extra is appended.
func ceremonyPolicy(extra string) string {
	return fmt.Sprintf(`
principals:
  kadmin: {roles: [{role: key-admin, tenant: default}]}
  signer: {roles: [{role: signer, tenant: default}]}
  issuer: {roles: [{role: issuer, tenant: default}]}
operators:
  alice: {public_key: %q}
  bob:   {public_key: %q}
  carol: {public_key: %q}
%s`, operatorPub("alice"), operatorPub("bob"), operatorPub("carol"), extra)
}

// approval is operator's approval of ceremony c, as kq ceremony approve
// makes it.
func approval(c *ceremony.Ceremony, operator string) *fsm.ApproveCeremony {
	d, _ := hex.DecodeString(c.Digest)
	return &fsm.ApproveCeremony{ID: c.ID, PublicKey: operatorPub(operator),
		Signature: hex.EncodeToString(ed25519.Sign(operatorKey(operator), d)), Actor: spiffe(operator)}
}

func nonce(i int) string { return fmt.Sprintf("%032x", i) }

// ceremonyFixture: protocol 2, audit on, key "k" active with deletion
// allowed, then retired, and the operators' policy in force.
func ceremonyFixture(t *testing.T, extra string) *fsmHarness {
	t.Helper()
	cfg := fsm.DefaultFSMConfig()
	cfg.ClusterID = "kq-test"
	h := newFSMHarness(t, cfg)
	h.raiseToV2("n1", "n2", "n3")
	if err := h.f.EnableAudit(auditchain.DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	h.mustOK(fsm.CreateKey{RequestID: "create-k", Name: "k", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2"}, DeletionAllowed: true})
	for _, m := range []string{"n1", "n2"} {
		h.mustOK(fsm.ShareStored{Key: "k", Version: 1, Node: m, PublicKey: fsmPub("k")})
	}
	h.mustOK(&fsm.ChangeKey{RequestID: "retire-k", Op: fsm.OpRetire, Key: "k", Version: 1})
	if res := h.setPolicy(ceremonyPolicy(extra), spiffe("admin")); res.Err != nil {
		t.Fatalf("set the operators' policy: %v", res.Err)
	}
	return h
}

func destroyParams(key string, version uint32) string {
	b, _ := json.Marshal(ceremony.KeyDestroyParams{Key: key, Version: version, Delay: int64(time.Second)})
	return string(b)
}

func (h *fsmHarness) propose(kind policy.CeremonyKind, params, proposer string, ttl time.Duration) *ceremony.Ceremony {
	h.t.Helper()
	return h.mustOK(&fsm.ProposeCeremony{Kind: kind, Params: params, Nonce: nonce(int(h.idx)), TTL: int64(ttl), Actor: spiffe(proposer)}).Ceremony
}

// TestCeremonyKeyDestroy walks the issue's story in the FSM: the direct
// destroy is refused; the proposer's approval does not count; a replayed,
// tampered or foreign approval fails with its error and changes nothing;
// the second counted approval executes the destroy in its own entry; the
// audit records alone verify.
func TestCeremonyKeyDestroy(t *testing.T) {
	h := ceremonyFixture(t, "")
	res := h.mustErr(&fsm.ChangeKey{RequestID: "d", Op: fsm.OpDestroy, Key: "k", Version: 1, Delay: int64(time.Second), Actor: spiffe("kadmin")},
		fsm.ErrCeremonyRequired)
	if !errors.Is(res.Err, policy.ErrPermissionDenied) {
		t.Errorf("direct destroy: %v, want it to read as permission denied", res.Err)
	}
	h.mustErr(&fsm.ProposeCeremony{Kind: policy.KindKeyDestroy, Params: destroyParams("k", 1), Nonce: nonce(99), TTL: int64(time.Hour), Actor: spiffe("kadmin")},
		policy.ErrPermissionDenied) // neither operator nor cluster-admin
	h.mustErr(&fsm.ProposeCeremony{Kind: policy.KindKeyDestroy, Params: destroyParams("nope", 1), Nonce: nonce(98), TTL: int64(time.Hour), Actor: spiffe("alice")},
		fsm.ErrUnknownKey)
	h.mustErr(&fsm.ProposeCeremony{Kind: policy.KindThreshold, Params: `{"key":"nope","threshold":2}`, Nonce: nonce(97), TTL: int64(time.Hour), Actor: spiffe("alice")},
		fsm.ErrUnknownKey)

	c := h.propose(policy.KindKeyDestroy, destroyParams("k", 1), "alice", time.Hour)
	other := h.propose(policy.KindKeyDestroy, destroyParams("k", 1), "alice", time.Hour)
	if c.Quorum != 2 || c.State != ceremony.Pending || len(c.Approvers) != 3 || c.Cluster != "kq-test" || !strings.Contains(c.Summary, `destroy "k" v1`) {
		t.Fatalf("proposal %+v", c)
	}
	h.mustOK(approval(c, "alice")) // the proposer's: recorded, not counted
	if got, _ := h.f.Ceremony(c.ID); got.Counted() != 0 || len(got.Approvals) != 1 {
		t.Fatalf("after the proposer's approval: %d counted of %d", got.Counted(), len(got.Approvals))
	}
	h.mustOK(approval(c, "bob"))
	replay := approval(other, "carol")
	replay.ID = c.ID
	h.mustErr(replay, fsm.ErrBadApproval)
	tampered := approval(c, "carol")
	sig, _ := hex.DecodeString(tampered.Signature)
	sig[5] ^= 1
	tampered.Signature = hex.EncodeToString(sig)
	h.mustErr(tampered, fsm.ErrBadApproval)
	stranger := approval(c, "mallory")
	h.mustErr(stranger, fsm.ErrNotApprover)
	h.mustErr(approval(c, "bob"), fsm.ErrAlreadyApproved)
	if k, _ := h.f.Key("k"); k.Version(1).Destroy != nil {
		t.Fatal("destroy scheduled before the quorum")
	}
	res = h.mustOK(approval(c, "carol"))
	if res.Ceremony.State != ceremony.Executed || res.Key == nil || res.Key.Version(1).Destroy == nil {
		t.Fatalf("the quorum's approval: %+v key %+v", res.Ceremony, res.Key)
	}
	h.mustOK(approval(other, "bob"))
	if got, _ := h.f.Ceremony(other.ID); got.State != ceremony.Pending {
		t.Fatalf("one counted approval ended %s", other.ID)
	}
	// The other proposal's version is scheduled now: it fails at its quorum.
	h.mustErr(approval(other, "carol"), fsm.ErrCeremonyFailed)
	h.mustErr(approval(c, "carol"), fsm.ErrCeremonyEnded)

	recs := h.f.AuditRecent(0, 10_000)
	rep, err := audit.VerifyCeremony(recs, c.ID)
	if err != nil || rep.Counted != 2 || rep.State != audit.CeremonyExecuted || len(rep.Approvals) != 3 || rep.Approvals[0].Counted {
		t.Fatalf("offline verify: %+v, %v", rep, err)
	}
	// A record altered after the fact does not verify.
	for i := range recs {
		if c := recs[i].Ceremony; c != nil && c.Operator == "bob" && c.ID == rep.ID {
			c.Signature = tampered.Signature
		}
	}
	if _, err := audit.VerifyCeremony(recs, c.ID); !errors.Is(err, audit.ErrCeremonyEvidence) {
		t.Fatalf("a forged signature in the export verified: %v", err)
	}
}

// TestCeremonyUndercountIsCaughtOffline: a ceremony executed one approval
// short, as the ceremony-undercount bug does, fails offline verification.
func TestCeremonyUndercountIsCaughtOffline(t *testing.T) {
	h := ceremonyFixture(t, "")
	c := h.propose(policy.KindKeyDestroy, destroyParams("k", 1), "alice", time.Hour)
	h.mustOK(approval(c, "bob"))
	recs := h.f.AuditRecent(0, 10_000)
	last := &recs[len(recs)-1]
	if last.Ceremony == nil || last.Ceremony.State != audit.CeremonyPending {
		t.Fatalf("last record %+v", last)
	}
	// What the buggy replica writes: the same approval, executed.
	last.Ceremony.State = audit.CeremonyExecuted
	*last = audit.Link(last.Seq-1, last.PrevHash, *last)
	if _, err := audit.Verify(recs, nil, false); err != nil {
		t.Fatalf("the relinked chain: %v", err)
	}
	_, err := audit.VerifyCeremony(recs, c.ID)
	if !errors.Is(err, audit.ErrCeremonyEvidence) || !strings.Contains(err.Error(), "below the quorum 2") {
		t.Fatalf("an undercounted execution verified: %v", err)
	}
}

// TestCeremonyExpiresAndFailsPreconditions: an approval after expires_at
// (replicated time) fails and marks it expired; a change whose
// precondition stopped holding fails at the quorum and executes nothing.
func TestCeremonyExpiresAndFailsPreconditions(t *testing.T) {
	h := ceremonyFixture(t, "")
	c := h.propose(policy.KindKeyDestroy, destroyParams("k", 1), "alice", 2*time.Second)
	late := approval(c, "bob")
	late.Time = c.ExpiresAt
	h.mustErr(late, fsm.ErrCeremonyExpired)
	if got, _ := h.f.Ceremony(c.ID); got.State != ceremony.Expired || len(got.Approvals) != 0 {
		t.Fatalf("expired ceremony %+v", got)
	}
	h.mustErr(approval(c, "carol"), fsm.ErrCeremonyEnded)

	c = h.propose(policy.KindKeyDestroy, destroyParams("k", 1), "alice", time.Hour)
	h.mustOK(approval(c, "bob"))
	// Forbidding deletion stays instant, and breaks the ceremony's precondition.
	h.mustOK(&fsm.ChangeKey{RequestID: "nodel", Op: fsm.OpPolicy, Key: "k", DeletionAllowed: new(false), Actor: spiffe("kadmin")})
	res := h.mustErr(approval(c, "carol"), fsm.ErrCeremonyFailed)
	if !errors.Is(res.Err, fsm.ErrBadTransition) || res.Ceremony.State != ceremony.Failed {
		t.Fatalf("failed precondition: %v %+v", res.Err, res.Ceremony)
	}
	if k, _ := h.f.Key("k"); k.Version(1).Destroy != nil {
		t.Fatal("a failed ceremony scheduled the destroy")
	}
	// Allowing deletion again needs a key-policy ceremony.
	h.mustErr(&fsm.ChangeKey{RequestID: "del", Op: fsm.OpPolicy, Key: "k", DeletionAllowed: new(true), Actor: spiffe("kadmin")}, fsm.ErrCeremonyRequired)
	kp := h.propose(policy.KindKeyPolicy, `{"key":"k","deletion_allowed":true}`, "carol", time.Hour)
	h.mustOK(approval(kp, "alice"))
	h.mustOK(approval(kp, "bob"))
	if k, _ := h.f.Key("k"); !k.DeletionAllowed {
		t.Fatal("the key-policy ceremony did not allow deletion")
	}
	// Cancelled ceremonies take no approval.
	c = h.propose(policy.KindKeyDestroy, destroyParams("k", 1), "alice", time.Hour)
	h.mustErr(&fsm.CancelCeremony{ID: c.ID, Actor: spiffe("kadmin")}, policy.ErrPermissionDenied)
	h.mustOK(&fsm.CancelCeremony{ID: c.ID, Actor: spiffe("bob")})
	h.mustErr(approval(c, "bob"), fsm.ErrCeremonyEnded)
	h.mustErr(&fsm.CancelCeremony{ID: "cer-nope", Actor: spiffe("bob")}, fsm.ErrUnknownCeremony)
}

// TestCeremonyPolicyChange: once operators are listed the policy changes
// by ceremony only, the change takes effect at the executing entry, and
// operators or quorums change only by an operators ceremony at the old
// quorum.
func TestCeremonyPolicyChange(t *testing.T) {
	h := ceremonyFixture(t, "ceremonies: {default_quorum: 2, operators: {quorum: 3}}\n")
	h.mustErr(&fsm.SetPolicy{Document: "{}", SHA256: "x", Actor: spiffe("admin")}, fsm.ErrCeremonyRequired)
	params := func(doc string) string { return policyParams(t, doc) }
	withAcme := "tenants: [acme]\n" + ceremonyPolicy("ceremonies: {default_quorum: 2, operators: {quorum: 3}}\n")
	h.mustErr(&fsm.ProposeCeremony{Kind: policy.KindOperators, Params: params(withAcme), Nonce: nonce(50), TTL: int64(time.Hour), Actor: spiffe("admin")},
		fsm.ErrInvalidCommand) // no operator change: a policy-change
	c := h.propose(policy.KindPolicyChange, params(withAcme), "admin", time.Hour)
	if !strings.Contains(c.Summary, "tenants +acme") {
		t.Errorf("summary %q does not show the diff", c.Summary)
	}
	h.mustOK(approval(c, "alice"))
	before, _ := h.f.PolicyInForce()
	res := h.mustOK(approval(c, "bob")) // admin proposed: both count
	after, _ := h.f.PolicyInForce()
	if res.Ceremony.State != ceremony.Executed || after.Version != before.Version+1 || !strings.Contains(strings.Join(after.Policy.Tenants, ","), "acme") {
		t.Fatalf("policy v%d -> v%d %v, ceremony %+v", before.Version, after.Version, after.Policy.Tenants, res.Ceremony)
	}
	// Dropping carol is an operators change: a policy-change is refused,
	// and the operators ceremony needs the old quorum, 3.
	noCarol := strings.NewReplacer(fmt.Sprintf("  carol: {public_key: %q}\n", operatorPub("carol")), "", "operators: {quorum: 3}", "operators: {quorum: 2}").Replace(withAcme)
	h.mustErr(&fsm.ProposeCeremony{Kind: policy.KindPolicyChange, Params: params(noCarol), Nonce: nonce(51), TTL: int64(time.Hour), Actor: spiffe("admin")},
		fsm.ErrInvalidCommand)
	c = h.propose(policy.KindOperators, params(noCarol), "admin", time.Hour)
	if c.Quorum != 3 {
		t.Fatalf("operators ceremony quorum %d, want the old policy's 3", c.Quorum)
	}
	h.mustOK(approval(c, "alice"))
	h.mustOK(approval(c, "bob"))
	h.mustOK(approval(c, "carol"))
	if st, _ := h.f.PolicyInForce(); len(st.Policy.Operators) != 2 {
		t.Fatalf("operators after the ceremony: %v", st.Policy.Operators)
	}
	// A ceremony proposed under an older policy fails at its quorum.
	stale := h.propose(policy.KindTenantCreate, `{"tenant":"globex"}`, "admin", time.Hour)
	h.mustOK(&fsm.RevokePrincipal{Principal: "signer", Actor: spiffe("admin")}) // instant, moves the policy
	h.mustOK(approval(stale, "alice"))
	h.mustErr(approval(stale, "bob"), fsm.ErrCeremonyFailed)
}

// TestFreeze: a cluster-admin freezes at once, pending signatures end and
// new ones are refused; unfreezing is a ceremony once operators exist.
func TestFreeze(t *testing.T) {
	h := ceremonyFixture(t, "")
	h.mustOK(fsm.CreateKey{RequestID: "create-s", Name: "s", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2"}, Actor: spiffe("kadmin")})
	for _, m := range []string{"n1", "n2"} {
		h.mustOK(fsm.ShareStored{Key: "s", Version: 1, Node: m, PublicKey: fsmPub("s")})
	}
	h.mustOK(&fsm.IssueHandle{RequestID: "i", HandleID: "h", TokenHash: fsm.HandleTokenHash([]byte("t")), Key: "s",
		Purpose: fsm.DefaultPurpose, TTL: int64(time.Hour), Actor: spiffe("issuer")})
	sign := func(id string) *fsm.SignRequested {
		return &fsm.SignRequested{RequestID: id, Key: "s", Handle: "h", HandleProof: fsm.HandleTokenHash([]byte("t")),
			Digest: digest(1), Committee: []string{"n1", "n2"}, Actor: spiffe("signer")}
	}
	h.mustOK(sign("before"))
	h.mustErr(&fsm.Freeze{Reason: "incident", Actor: spiffe("kadmin")}, policy.ErrPermissionDenied)
	res := h.mustOK(&fsm.Freeze{Reason: "incident 42", Actor: spiffe("admin")})
	if len(res.Ended) != 1 || res.Ended[0] != "before" {
		t.Fatalf("freeze ended %v, want the pending request", res.Ended)
	}
	h.mustErr(sign("during"), fsm.ErrFrozen)
	h.mustErr(&fsm.Unfreeze{Actor: spiffe("admin")}, fsm.ErrCeremonyRequired)
	c := h.propose(policy.KindUnfreeze, "", "admin", time.Hour)
	h.mustOK(approval(c, "alice"))
	h.mustErr(sign("still"), fsm.ErrFrozen)
	h.mustOK(approval(c, "carol"))
	h.mustOK(sign("after"))
	if h.f.FrozenState() != nil {
		t.Fatal("still frozen")
	}
}

func TestCeremonyPolicyRules(t *testing.T) {
	for name, extra := range map[string]string{
		"quorum above the group":    "ceremonies: {key-destroy: {quorum: 4}}",
		"unknown kind":              "ceremonies: {key-explode: {quorum: 2}}",
		"approver not an operator":  "ceremonies: {key-destroy: {approvers: [mallory]}}",
		"unknown field":             "ceremonies: {key-destroy: {quorom: 2}}",
		"zero default":              "ceremonies: {default_quorum: -1}",
		"shared key":                fmt.Sprintf("  dave: {public_key: %q}", operatorPub("alice")),
		"not a key":                 "  dave: {public_key: \"ed25519:AAAA\"}",
		"an approver group too few": "ceremonies: {default_quorum: 2, unfreeze: {approvers: [alice]}}",
	} {
		if _, err := policy.Parse([]byte(ceremonyPolicy(extra))); !errors.Is(err, policy.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalidPolicy", name, err)
		}
	}
	p, err := policy.Parse([]byte(ceremonyPolicy("ceremonies: {default_quorum: 2, kinds: {key-destroy: {quorum: 3}}, unfreeze: {quorum: 1, approvers: [bob]}}")))
	if err != nil || p.Ceremonies.Kinds[policy.KindKeyDestroy].Quorum != 3 || p.Ceremonies.Kinds[policy.KindUnfreeze].Approvers[0] != "bob" {
		t.Fatalf("%v %+v", err, p)
	}
	// A policy without operators keeps the hash it had before ceremonies.
	plain, _ := policy.Parse([]byte("tenants: [acme]"))
	if data, _, _ := plain.Canonical(); strings.Contains(string(data), "operators") || strings.Contains(string(data), "ceremonies") {
		t.Errorf("a policy without operators encodes them: %s", data)
	}
}
