package fsm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

const contractPolicy = `
tenants: [default, acme, globex]
principals:
  alice: {roles: [{role: key-admin, tenant: acme}, {role: issuer, tenant: acme, purposes: [deploy], max_ttl: 60m}]}
  bob:   {roles: [{role: signer, tenant: acme}]}
  carol: {roles: [{role: auditor, tenant: acme}]}
  eve:   {roles: [{role: key-admin, tenant: globex}]}
separation_of_duties: [[issuer, signer], [key-admin, auditor]]
quotas: {acme: {keys: 2, handles: 1000, sign_per_second: 50, sessions: 8}}
`

func spiffe(name string) string { return "spiffe://kq-test/client/" + name }

// setPolicy applies doc through a SetPolicy entry, as kq policy apply does.
func (h *fsmHarness) setPolicy(doc, actor string) fsm.Result {
	h.t.Helper()
	p, err := policy.Parse([]byte(doc))
	if err != nil {
		h.t.Fatalf("ParsePolicy: %v", err)
	}
	data, sum, err := p.Canonical()
	if err != nil {
		h.t.Fatal(err)
	}
	return h.apply(&fsm.SetPolicy{Document: string(data), SHA256: sum, Actor: actor})
}

func TestParsePolicyNormalizesAndKeepsAdmin(t *testing.T) {
	p, err := policy.Parse([]byte(contractPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if g := p.Principals["admin"].Roles; len(g) != 1 || g[0].Role != policy.RoleClusterAdmin || g[0].Tenant != "*" {
		t.Errorf("admin = %+v, want cluster-admin on * when the file does not name it", g)
	}
	if g := p.Principals["alice"].Roles[0]; g.MaxTTL != "1h0m0s" || g.Role != policy.RoleIssuer {
		t.Errorf("alice's issuer grant = %+v, want max_ttl normalised to 1h0m0s", g)
	}
	// The same policy written in another order hashes the same.
	reordered := strings.NewReplacer("[default, acme, globex]", "[globex, acme]", "[[issuer, signer], [key-admin, auditor]]", "[[auditor, key-admin], [signer, issuer]]").Replace(contractPolicy)
	q, err := policy.Parse([]byte(reordered))
	if err != nil {
		t.Fatal(err)
	}
	_, h1, _ := p.Canonical()
	_, h2, _ := q.Canonical()
	if h1 != h2 {
		t.Errorf("reordered document hashes %s, want %s", h2, h1)
	}
	if p, err := policy.Parse([]byte("principals: {}\n")); err != nil || len(p.SeparationOfDuties) != 2 {
		t.Errorf("a document without separation_of_duties: %v, %+v; want the two default pairs", err, p)
	}
}

// TestPolicyIsEnforcedAtTheEntry: once a policy applies, every request is
// decided by it at its index; a refusal changes nothing and is audited;
// the policy survives a snapshot; a revoke takes effect at its index.
func TestPolicyIsEnforcedAtTheEntry(t *testing.T) {
	h := raised(t)
	h.f.EnableAudit(auditchain.DefaultConfig())
	create := func(name, actor string) *fsm.CreateKey {
		return &fsm.CreateKey{RequestID: "c-" + name + actor, Name: name, Algorithm: algEd25519, Threshold: 1,
			Members: []string{"n1", "n2"}, Purposes: []string{"deploy", "sign"}, Actor: spiffe(actor)}
	}
	h.mustOK(create("acme/old", "bob")) // the bootstrap policy lets any client
	res := h.setPolicy(contractPolicy, spiffe("bob"))
	if res.Err != nil || !strings.Contains(res.Note, "policy v0 -> v1, sha256 none -> ") || !strings.Contains(res.Note, "principals +admin,+alice,+bob,+carol,+eve") {
		t.Fatalf("set policy: %v, note %q", res.Err, res.Note)
	}
	if res := h.setPolicy(contractPolicy, spiffe("bob")); !errors.Is(res.Err, policy.ErrPermissionDenied) {
		t.Fatalf("bob, not cluster-admin, set the policy: %v", res.Err)
	}
	st, set := h.f.PolicyInForce()
	if !set || st.Version != 1 {
		t.Fatalf("policy in force v%d set=%v", st.Version, set)
	}
	h.mustErr(create("acme/k", "bob"), policy.ErrPermissionDenied)     // signer, not key-admin
	h.mustErr(create("globex/k", "alice"), policy.ErrPermissionDenied) // no role there
	h.mustErr(create("k", "admin"), policy.ErrPermissionDenied)        // cluster-admin holds no key role
	h.mustErr(create("nope/k", "alice"), policy.ErrPermissionDenied)   // unknown tenant
	h.mustErr(&fsm.CreateKey{RequestID: "x", Name: "acme/x", Algorithm: algEd25519, Threshold: 1, Members: []string{"n1", "n2"}, Actor: "node:n1"}, policy.ErrPermissionDenied)
	h.mustOK(create("acme/k", "alice"))
	h.mustErr(create("acme/k2", "alice"), fsm.ErrTooManyKeys) // quota keys: 2
	if _, ok := h.f.Key("acme/k2"); ok {
		t.Fatal("a refused create left a key")
	}
	// eve has no role on acme: its keys read as unknown, not forbidden.
	change := &fsm.ChangeKey{RequestID: "ch", Op: fsm.OpPolicy, Key: "acme/k", DeletionAllowed: new(true), Actor: spiffe("eve")}
	res = h.mustErr(change, fsm.ErrUnknownKey)
	if res.Err.Error() != `policy "acme/k": unknown key` {
		t.Errorf("hidden key answer %q differs from an unknown key's", res.Err)
	}
	change.Actor = spiffe("carol") // auditor sees, may not change
	h.mustErr(change, policy.ErrPermissionDenied)
	issue := &fsm.IssueHandle{RequestID: "i1", HandleID: "h1", TokenHash: fsm.HandleTokenHash([]byte("t1")), Key: "acme/k",
		Purpose: "sign", TTL: int64(30e9), Actor: spiffe("alice")}
	h.mustErr(issue, policy.ErrPermissionDenied) // purpose outside the grant
	issue.Purpose, issue.TTL = "deploy", int64(2*3600e9)
	h.mustErr(issue, policy.ErrPermissionDenied) // over max_ttl
	issue.TTL = int64(30e9)
	h.mustOK(issue)
	sign := &fsm.SignRequested{RequestID: "s1", Key: "acme/k", Handle: "h1", HandleProof: fsm.HandleTokenHash([]byte("t1")),
		Digest: digest(1), Committee: []string{"n1", "n2"}, Actor: spiffe("carol")}
	h.mustErr(sign, policy.ErrPermissionDenied) // auditor, not signer
	sign.Actor = spiffe("eve")
	h.mustErr(sign, fsm.ErrUnknownKey)

	// Snapshot and restore keep the policy, and so the decisions.
	restored := restoredFSM(t, fsm.DefaultFSMConfig(), snapshotBytes(t, h.f))
	if got, _ := restored.PolicyInForce(); got.SHA256 != st.SHA256 || got.Version != 1 {
		t.Fatalf("restored policy v%d %s, want v1 %s", got.Version, got.SHA256, st.SHA256)
	}

	// Revoking alice denies her at once, and the handles she issued.
	res = h.mustOK(&fsm.RevokePrincipal{Principal: "alice", Actor: spiffe("admin")})
	if !strings.Contains(res.Note, "denied +alice") {
		t.Errorf("revoke note %q", res.Note)
	}
	change.Actor = spiffe("alice")
	h.mustErr(change, policy.ErrPermissionDenied)
	sign.Actor = spiffe("bob")
	h.mustErr(sign, fsm.ErrHandleDenied)
	h.mustErr(&fsm.RevokePrincipal{Principal: "admin", Actor: spiffe("admin")}, policy.ErrInvalid) // the last cluster-admin

	denials := 0
	for _, r := range h.f.AuditRecent(0, 1000) {
		if r.Outcome == "denied" && strings.Contains(r.Reason, "permission denied") {
			denials++
		}
	}
	if denials < 8 {
		t.Errorf("%d audited permission denials, want one per refusal", denials)
	}
}

func TestSetPolicyChecksHashBaseAndProtocol(t *testing.T) {
	h := newFSMHarness(t, fsm.DefaultFSMConfig())
	p, _ := policy.Parse([]byte(contractPolicy))
	data, sum, _ := p.Canonical()
	h.mustErr(&fsm.SetPolicy{Document: string(data), SHA256: sum, Actor: spiffe("admin")}, fsm.ErrProtocolNotActive)
	h = raised(t)
	h.mustErr(&fsm.SetPolicy{Document: string(data), SHA256: strings.Repeat("0", 64), Actor: spiffe("admin")}, policy.ErrInvalid)
	h.mustErr(&fsm.SetPolicy{Document: string(data), SHA256: sum, BaseVersion: 3, Actor: spiffe("admin")}, fsm.ErrStale)
	bad := `{"tenants":["acme","default"],"principals":{"admin":{"roles":[{"role":"cluster-admin","tenant":"*"}]},"x":{"roles":[{"role":"issuer","tenant":"acme"},{"role":"signer","tenant":"acme"}]}},"separation_of_duties":[["issuer","signer"]]}`
	h.mustErr(&fsm.SetPolicy{Document: bad, Actor: spiffe("admin")}, policy.ErrInvalid)
	h.mustErr(&fsm.SetPolicy{Document: `{"open":true,"tenants":["default"],"principals":{},"separation_of_duties":[]}`, Actor: spiffe("admin")}, policy.ErrInvalid)
	h.mustOK(&fsm.SetPolicy{Document: string(data), SHA256: sum, BaseVersion: 0, Actor: spiffe("admin")})
	if res := h.mustOK(&fsm.SetPolicy{Document: string(data), SHA256: sum, BaseVersion: 1, Actor: spiffe("admin")}); !res.Duplicate {
		t.Error("the same policy again is not a duplicate")
	}
}
