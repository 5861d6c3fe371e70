package fsm_test

import (
	"errors"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

const quotaPolicy = `
tenants: [acme, globex]
principals:
  alice: {roles: [{role: key-admin, tenant: acme}, {role: issuer, tenant: acme}]}
  bob:   {roles: [{role: signer, tenant: acme}], quota: {sessions: 1, sign_per_second: 3}}
  carl:  {roles: [{role: signer, tenant: acme}]}
  eve:   {roles: [{role: key-admin, tenant: globex}, {role: issuer, tenant: globex}, {role: signer, tenant: globex}]}
separation_of_duties: [[key-admin, auditor]]
quotas: {acme: {keys: 5, sessions: 2, sign_per_second: 10}}
`

// TestQuotasAreDecidedAtTheEntry: a tenant's key weight (an ECDSA key
// counts 4), its pending signing sessions and a principal's own sessions
// are refused with RESOURCE_EXHAUSTED-class errors naming the quota; a
// retry of a request already admitted is not refused; another tenant is
// not bounded by acme's quotas.
func TestQuotasAreDecidedAtTheEntry(t *testing.T) {
	h := raised(t)
	if res := h.setPolicy(quotaPolicy, spiffe("admin")); res.Err != nil {
		t.Fatal(res.Err)
	}
	h.mustOK(&fsm.PreParamsReady{Node: "n1"})
	h.mustOK(&fsm.PreParamsReady{Node: "n2"})
	create := func(name, alg, actor string) *fsm.CreateKey {
		return &fsm.CreateKey{RequestID: "c-" + name, Name: name, Algorithm: alg, Threshold: 1,
			Members: []string{"n1", "n2"}, Actor: spiffe(actor)}
	}
	h.mustOK(create("acme/e", algECDSA, "alice")) // weight 4 of 5
	res := h.mustErr(create("acme/e2", algECDSA, "alice"), fsm.ErrTooManyKeys)
	var qe *policy.QuotaExceeded
	if !errors.As(res.Err, &qe) || qe.Quota != policy.QuotaKeys || qe.Scope != "tenant" || qe.Name != "acme" || qe.Limit != 5 || qe.RetryAfter != 0 {
		t.Fatalf("ECDSA key over the weight: %v (%+v)", res.Err, qe)
	}
	h.mustOK(create("acme/k", algEd25519, "alice")) // weight 5 of 5
	h.mustErr(create("acme/k2", algEd25519, "alice"), fsm.ErrTooManyKeys)
	h.mustOK(create("acme/e", algECDSA, "alice")) // a retry adds nothing
	h.mustOK(create("globex/k", algEd25519, "eve"))
	for _, name := range []string{"acme/k", "globex/k"} {
		h.mustOK(&fsm.ShareStored{Key: name, Version: 1, Node: "n1", PublicKey: []byte("pk")})
		h.mustOK(&fsm.ShareStored{Key: name, Version: 1, Node: "n2", PublicKey: []byte("pk")})
	}
	issue := func(id, key, actor string) {
		h.mustOK(&fsm.IssueHandle{RequestID: "i" + id, HandleID: id, TokenHash: fsm.HandleTokenHash([]byte(id)), Key: key, Purpose: "sign",
			TTL: int64(3600e9), Actor: spiffe(actor)})
	}
	issue("ha", "acme/k", "alice")
	issue("hg", "globex/k", "eve")
	sign := func(id, key, handle, actor string) *fsm.SignRequested {
		return &fsm.SignRequested{RequestID: id, Key: key, Handle: handle, HandleProof: fsm.HandleTokenHash([]byte(handle)),
			Digest: digest(byte(len(id) + int(id[len(id)-1]))), Committee: []string{"n1", "n2"}, Actor: spiffe(actor)}
	}
	h.mustOK(sign("s1", "acme/k", "ha", "bob"))
	res = h.mustErr(sign("s2", "acme/k", "ha", "bob"), fsm.ErrTooManyPending) // bob's own sessions: 1
	if !errors.As(res.Err, &qe) || qe.Scope != "principal" || qe.Name != "bob" || qe.Quota != policy.QuotaSessions || qe.RetryAfter <= 0 {
		t.Fatalf("bob's second session: %v (%+v)", res.Err, qe)
	}
	if err := h.f.AdmitSign(spiffe("bob"), "acme/k", "s2"); !errors.Is(err, fsm.ErrTooManyPending) {
		t.Errorf("AdmitSign for bob's second session: %v, want the FSM's refusal ahead of the log", err)
	}
	h.mustOK(sign("s1", "acme/k", "ha", "bob")) // a retry holds its session
	h.mustOK(sign("s3", "acme/k", "ha", "carl"))
	res = h.mustErr(sign("s4", "acme/k", "ha", "carl"), fsm.ErrTooManyPending) // acme's sessions: 2
	if !errors.As(res.Err, &qe) || qe.Scope != "tenant" || qe.Name != "acme" {
		t.Fatalf("acme's third session: %v (%+v)", res.Err, qe)
	}
	h.mustOK(sign("g1", "globex/k", "hg", "eve")) // globex is not acme
	h.mustOK(sign("g2", "globex/k", "hg", "eve"))
	if tq, pq := h.f.SignRates(spiffe("bob"), "acme/k"); tq != 10 || pq != 3 {
		t.Errorf("SignRates(bob, acme/k) = %d, %d; want 10, 3", tq, pq)
	}
	if tq, pq := h.f.SignRates(spiffe("eve"), "globex/k"); tq != 0 || pq != 0 {
		t.Errorf("SignRates(eve, globex/k) = %d, %d; want unbounded", tq, pq)
	}
	// A finished session frees its slot.
	h.mustOK(&fsm.SignFailed{RequestID: "s1", Attempt: 1, Reason: "test"})
	h.mustOK(sign("s5", "acme/k", "ha", "bob"))
}

// TestPresigsQuotaBoundsTheTenantsPools: a tenant's presigs quota bounds
// the presignatures of all its ECDSA keys together, pending or ready, at
// the PresignRequested entry; the leader's PresigRoom gives the same
// answer before it proposes; a discarded or expired presignature frees
// room; another tenant is not bounded by it.
func TestPresigsQuotaBoundsTheTenantsPools(t *testing.T) {
	h := raised(t)
	for _, name := range []string{"acme/e1", "acme/e2", "globex/e"} {
		h.activeKey(name, algECDSA, 1, "n1", "n2")
	}
	doc := "tenants: [acme, globex]\nquotas: {acme: {presigs: 2}}\n"
	if res := h.setPolicy(doc, spiffe("admin")); res.Err != nil {
		t.Fatal(res.Err)
	}
	presign := func(id, key string, at int64) *fsm.PresignRequested {
		return &fsm.PresignRequested{ID: id, Key: key, Committee: []string{"n1", "n2"}, Time: at, TTL: presigTTL}
	}
	h.mustOK(presign("p1", "acme/e1", 1))
	if !h.f.PresigRoom("acme/e2") {
		t.Fatal("PresigRoom: no room with 1 of 2")
	}
	h.mustOK(presign("p2", "acme/e2", 2))
	if h.f.PresigRoom("acme/e1") {
		t.Fatal("PresigRoom: room with 2 of 2")
	}
	res := h.mustErr(presign("p3", "acme/e1", 3), fsm.ErrTooManyPresigs)
	var qe *policy.QuotaExceeded
	if !errors.As(res.Err, &qe) || qe.Quota != policy.QuotaPresigs || qe.Scope != "tenant" || qe.Name != "acme" || qe.Limit != 2 {
		t.Fatalf("third presignature of acme: %v (%+v)", res.Err, qe)
	}
	if len(h.f.Presigs("acme/e1")) != 1 {
		t.Fatal("a refused presignature was recorded")
	}
	for i, id := range []string{"g1", "g2", "g3"} {
		h.mustOK(presign(id, "globex/e", int64(4+i)))
	}
	h.mustOK(&fsm.PresignDiscarded{ID: "p1", Node: "n1", Reason: "stalled"})
	h.mustOK(presign("p4", "acme/e1", 8))
	h.mustErr(presign("p5", "acme/e2", 9), fsm.ErrTooManyPresigs)
	// Past their expiry presignatures count no more.
	h.mustOK(presign("p6", "acme/e2", 10+presigTTL))
}
