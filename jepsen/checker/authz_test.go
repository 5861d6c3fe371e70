package checker

import (
	"math"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"

	"github.com/keyquorum/keyquorum/jepsen/model"
)

func authzPolicy() model.Authority {
	return model.Authority{Tenants: []string{"acme", "default", "globex"}, Principals: map[string][]model.Grant{
		"ka": {{Role: model.RoleKeyAdmin, Tenant: "acme"}, {Role: model.RoleIssuer, Tenant: "acme"}},
		"sa": {{Role: model.RoleSigner, Tenant: "acme"}},
		"sg": {{Role: model.RoleSigner, Tenant: "globex"}},
		"au": {{Role: model.RoleAuditor, Tenant: "acme"}},
		"rv": {{Role: model.RoleSigner, Tenant: "acme"}},
	}}
}

// authzBase is a correct history: ka issues handle h1 for acme/k, sa
// and rv sign with it, rv is revoked at 20-30 and then refused, sg (no
// role on acme) is answered NOT_FOUND, au reads.
func authzBase() []porcupine.Operation {
	ok := model.Output{Status: model.OK}
	sig := model.Output{Status: model.OK, Signature: "aa", Version: 1}
	return []porcupine.Operation{
		op(0, 2, model.Input{Kind: model.IssueHandle, Key: "acme/k", Handle: "h1", Principal: "ka"}, ok),
		op(3, 4, model.Input{Kind: model.Sign, Key: "acme/k", Handle: "h1", RequestID: "s1", Principal: "sa"}, sig),
		op(5, 6, model.Input{Kind: model.Sign, Key: "acme/k", Handle: "h1", RequestID: "s2", Principal: "rv"}, sig),
		// Concurrent with the revocation: either answer is right.
		op(19, 25, model.Input{Kind: model.Sign, Key: "acme/k", Handle: "h1", RequestID: "s3", Principal: "rv"}, sig),
		op(20, 30, model.Input{Kind: model.RevokePrincipal, Target: "rv", Principal: "admin"}, ok),
		op(31, 32, model.Input{Kind: model.Sign, Key: "acme/k", Handle: "h1", RequestID: "s4", Principal: "rv"}, model.Output{Status: model.Denied}),
		op(31, 32, model.Input{Kind: model.List, Principal: "rv"}, model.Output{Status: model.OK, Keys: []model.KeyView{}}),
		op(7, 8, model.Input{Kind: model.Sign, Key: "acme/k", Handle: "h1", RequestID: "s5", Principal: "sg"}, model.Output{Status: model.NotFound}),
		op(7, 8, model.Input{Kind: model.Get, Key: "acme/k", Principal: "sg"}, model.Output{Status: model.NotFound}),
		op(7, 8, model.Input{Kind: model.Get, Key: "acme/k", Principal: "au"}, model.Output{Status: model.OK, Key: model.KeyView{Name: "acme/k", State: model.Active}}),
		op(9, 10, model.Input{Kind: model.List, Principal: "au"}, model.Output{Status: model.OK, Keys: []model.KeyView{{Name: "acme/k", State: model.Active}}}),
		op(9, 10, model.Input{Kind: model.Sign, Key: "acme/k", Handle: "h1", RequestID: "s6", Principal: "au"}, model.Output{Status: model.Denied}),
	}
}

// The authz check passes a correct history and catches each way the
// cluster can break the policy: a signature by a principal without the
// signer role, a signature with a handle issued for another key or
// refused, success after a revocation was acknowledged, a refusal that
// shows a hidden key exists, and a list that shows another tenant's key.
func TestAuthzCatchesEachBreach(t *testing.T) {
	if c := Authz(authzBase(), authzPolicy()); c.Verdict != Valid || c.Checked != 11 {
		t.Fatalf("correct history: %s", c)
	}
	sig := model.Output{Status: model.OK, Signature: "bb", Version: 1}
	cases := []struct {
		name string
		add  []porcupine.Operation
		want string
	}{
		{"auditor signs", []porcupine.Operation{
			op(40, 41, model.Input{Kind: model.Sign, Key: "acme/k", Handle: "h1", RequestID: "x", Principal: "au"}, sig)}, "holds no role"},
		{"key-admin creates in another tenant", []porcupine.Operation{
			op(40, 41, model.Input{Kind: model.Create, Key: "globex/z", Principal: "ka"}, model.Output{Status: model.OK})}, "holds no role"},
		{"handle of another key", []porcupine.Operation{
			op(40, 41, model.Input{Kind: model.IssueHandle, Key: "acme/other", Handle: "h2", Principal: "ka"}, model.Output{Status: model.OK}),
			op(42, 43, model.Input{Kind: model.Sign, Key: "acme/k", Handle: "h2", RequestID: "x", Principal: "sa"}, sig)}, "no allowed issue"},
		{"handle whose issue was refused", []porcupine.Operation{
			op(40, 41, model.Input{Kind: model.IssueHandle, Key: "acme/k", Handle: "h3", Principal: "sa"}, model.Output{Status: model.Unknown}),
			op(42, 43, model.Input{Kind: model.Sign, Key: "acme/k", Handle: "h3", RequestID: "x", Principal: "sa"}, sig)}, "no allowed issue"},
		{"revoked principal signs", []porcupine.Operation{
			op(31, 33, model.Input{Kind: model.Sign, Key: "acme/k", Handle: "h1", RequestID: "x", Principal: "rv"}, sig)}, "revocation was acknowledged"},
		{"revoked principal reads", []porcupine.Operation{
			op(31, 33, model.Input{Kind: model.Get, Key: "acme/k", Principal: "rv"}, model.Output{Status: model.OK})}, "revocation was acknowledged"},
		{"revoked principal lists", []porcupine.Operation{
			op(31, 33, model.Input{Kind: model.List, Principal: "rv"}, model.Output{Status: model.OK, Keys: []model.KeyView{{Name: "acme/k"}}})}, "revocation was acknowledged"},
		{"existence leaks", []porcupine.Operation{
			op(40, 41, model.Input{Kind: model.Get, Key: "acme/k", Principal: "sg"}, model.Output{Status: model.Denied})}, "leaks"},
		{"list shows another tenant", []porcupine.Operation{
			op(40, 41, model.Input{Kind: model.List, Principal: "sg"}, model.Output{Status: model.OK, Keys: []model.KeyView{{Name: "acme/k"}}})}, "of a tenant where"},
	}
	for _, tc := range cases {
		c := Authz(append(authzBase(), tc.add...), authzPolicy())
		if c.Verdict != Invalid || len(c.Details) == 0 || !strings.Contains(c.Details[0], tc.want) {
			t.Errorf("%s: %s; want invalid with %q", tc.name, c, tc.want)
		}
	}
}

// Authorized keeps for the key model what the policy certainly allowed
// and nothing else: refusals, requests concurrent with a revocation or
// after it, a principal's lists and the revocation itself are the authz
// check's.
func TestAuthorizedKeepsWhatThePolicyCertainlyAllowed(t *testing.T) {
	kept := map[string]bool{}
	for _, op := range Authorized(authzBase(), authzPolicy()) {
		in := op.Input.(model.Input)
		kept[in.Principal+" "+string(in.Kind)+" "+in.RequestID] = true
	}
	want := map[string]bool{"ka handle ": true, "sa sign s1": true, "rv sign s2": true, "au get ": true}
	for k := range want {
		if !kept[k] {
			t.Errorf("Authorized dropped %q", k)
		}
	}
	for k := range kept {
		if !want[k] {
			t.Errorf("Authorized kept %q", k)
		}
	}
	// A history without principals passes whole.
	plain := []porcupine.Operation{op(0, math.MaxInt64, model.Input{Kind: model.Sign, Key: "k", RequestID: "r"}, model.Output{Status: model.Unknown})}
	if got := Authorized(plain, authzPolicy()); len(got) != 1 {
		t.Fatalf("history without principals: kept %d of 1", len(got))
	}
	if got := WithoutRevoked(authzBase()); len(got) != 7 {
		t.Fatalf("WithoutRevoked kept %d operations, want 7 (the revoked principal's four and the revocation dropped)", len(got))
	}
}
