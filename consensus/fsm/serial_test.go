package fsm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// TestSerialDenyListIsDecidedAtTheEntry: revoking one certificate serial
// refuses, from that entry on, every request whose entry carries the
// serial, whatever it asks, while the same principal's other certificate
// keeps working; a handle its issuer issued with the revoked certificate
// signs no more; a bad revocation changes nothing; a policy file may list
// serials in any usual spelling.
func TestSerialDenyListIsDecidedAtTheEntry(t *testing.T) {
	h := raised(t)
	doc := "tenants: [acme]\nprincipals:\n  alice: {roles: [{role: key-admin, tenant: acme}, {role: issuer, tenant: acme}]}\n  bob: {roles: [{role: signer, tenant: acme}]}\n"
	if res := h.setPolicy(doc, spiffe("admin")); res.Err != nil {
		t.Fatal(res.Err)
	}
	create := func(name, serial string) *fsm.CreateKey {
		return &fsm.CreateKey{RequestID: "c-" + name, Name: name, Algorithm: algEd25519, Threshold: 1,
			Members: []string{"n1", "n2"}, Actor: spiffe("alice"), ActorSerial: serial}
	}
	h.mustOK(create("acme/k", "a1"))
	for _, n := range []string{"n1", "n2"} {
		h.mustOK(&fsm.ShareStored{Key: "acme/k", Version: 1, Node: n, PublicKey: []byte("pk")})
	}
	issue := func(id, serial string) fsm.Result {
		return h.apply(&fsm.IssueHandle{RequestID: "i-" + id, HandleID: id, TokenHash: fsm.HandleTokenHash([]byte(id)), Key: "acme/k",
			Purpose: "sign", TTL: int64(3600e9), Actor: spiffe("alice"), ActorSerial: serial})
	}
	sign := func(id, handle, serial string) fsm.Result {
		return h.apply(&fsm.SignRequested{RequestID: id, Key: "acme/k", Handle: handle, HandleProof: fsm.HandleTokenHash([]byte(handle)),
			Digest: digest(byte(len(id) + int(id[len(id)-1]))), Committee: []string{"n1", "n2"}, Actor: spiffe("bob"), ActorSerial: serial})
	}
	if res := issue("h1", "a1"); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := issue("h2", "a2"); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := sign("s1", "h1", "b1"); res.Err != nil {
		t.Fatal(res.Err)
	}

	h.mustErr(&fsm.RevokePrincipal{Principal: "alice", Serial: "a1", Actor: spiffe("admin")}, fsm.ErrInvalidCommand)
	h.mustErr(&fsm.RevokePrincipal{Serial: "0A1", Actor: spiffe("admin")}, fsm.ErrInvalidCommand)
	h.mustErr(&fsm.RevokePrincipal{Serial: "a1", Actor: spiffe("bob")}, policy.ErrPermissionDenied)
	if st, _ := h.f.PolicyInForce(); len(st.Policy.DeniedSerials) != 0 {
		t.Fatalf("refused revocations left %v on the deny-list", st.Policy.DeniedSerials)
	}
	res := h.mustOK(&fsm.RevokePrincipal{Serial: "a1", Actor: spiffe("admin")})
	if !strings.Contains(res.Note, "denied_serials +a1") {
		t.Errorf("revocation note %q does not name the serial", res.Note)
	}
	if !h.f.SerialDenied("a1") || h.f.SerialDenied("a2") {
		t.Fatal("SerialDenied does not follow the deny-list")
	}
	if dup := h.mustOK(&fsm.RevokePrincipal{Serial: "a1", Actor: spiffe("admin")}); !dup.Duplicate {
		t.Error("a second revocation of the serial was not a duplicate")
	}
	for _, r := range []fsm.Result{
		h.apply(create("acme/k2", "a1")),
		issue("h3", "a1"),
		h.apply(&fsm.ChangeKey{RequestID: "r1", Op: fsm.OpRotate, Key: "acme/k", Actor: spiffe("alice"), ActorSerial: "a1"}),
		h.apply(&fsm.CreateTenant{Tenant: "initech", Actor: spiffe("admin"), ActorSerial: "a1"}),
	} {
		if !errors.Is(r.Err, policy.ErrPermissionDenied) || !strings.Contains(r.Err.Error(), string(policy.ReasonSerialDenied)) {
			t.Errorf("request with the revoked certificate: %v; want permission denied (%s)", r.Err, policy.ReasonSerialDenied)
		}
	}
	// The handle issued with the revoked certificate signs no more; the one
	// issued with alice's other certificate does.
	if r := sign("s2", "h1", "b1"); !errors.Is(r.Err, fsm.ErrHandleDenied) {
		t.Errorf("sign with a handle issued by the revoked certificate: %v", r.Err)
	}
	if r := sign("s3", "h2", "b1"); r.Err != nil {
		t.Errorf("sign with a handle of alice's other certificate: %v", r.Err)
	}
	h.mustOK(create("acme/k3", "a2"))
	if _, ok := h.f.Key("acme/k2"); ok {
		t.Error("a refused create left a key")
	}
	// A policy file lists serials as openssl prints them; the canonical
	// form is stored.
	p, err := policy.Parse([]byte(doc + "denied_serials: ['0A:B1', 'ff']\n"))
	if err != nil || strings.Join(p.DeniedSerials, ",") != "ab1,ff" {
		t.Fatalf("ParsePolicy denied_serials: %v, %v", p, err)
	}
	if _, err := policy.Parse([]byte(doc + "denied_serials: [zz]\n")); !errors.Is(err, policy.ErrInvalid) {
		t.Fatalf("ParsePolicy with a bad serial: %v", err)
	}
}
