package fsm_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// TestTenantDeleteNeedsDestroyedKeysAndOrdersShredding: a tenant is
// created and deleted by a cluster-admin only; deletion is refused while a
// version of its keys lives (with force, until a scheduled destruction is
// due, which the deletion then executes); it takes the tenant, its grants
// and quota out of the policy, revokes its handles, raises its generation
// and records the nodes' shredding reports; the state survives a
// snapshot; the tenant can be created again, at a new generation.
func TestTenantDeleteNeedsDestroyedKeysAndOrdersShredding(t *testing.T) {
	h := raised(t)
	h.f.EnableAudit(auditchain.DefaultConfig())
	h.activeKey("globex/k", algEd25519, 1, "n1", "n2") // under the open bootstrap policy
	h.activeKey("globex/j", algEd25519, 1, "n1", "n2")
	if res := h.setPolicy(`
tenants: [acme, globex]
principals:
  alice: {roles: [{role: key-admin, tenant: globex}, {role: key-admin, tenant: acme}]}
quotas: {globex: {keys: 10}}
`, spiffe("admin")); res.Err != nil {
		t.Fatal(res.Err)
	}
	h.mustErr(&fsm.CreateTenant{Tenant: "initech", Actor: spiffe("alice")}, policy.ErrPermissionDenied)
	h.mustErr(&fsm.CreateTenant{Tenant: "Not A Name", Actor: spiffe("admin")}, fsm.ErrInvalidCommand)
	h.mustErr(&fsm.CreateTenant{Tenant: "acme", Actor: spiffe("admin")}, fsm.ErrBadTransition)
	h.mustOK(&fsm.CreateTenant{Tenant: "initech", Actor: spiffe("admin")})
	if st, _ := h.f.PolicyInForce(); !slices.Contains(st.Policy.Tenants, "initech") {
		t.Fatalf("tenants after create: %v", st.Policy.Tenants)
	}

	del := &fsm.DeleteTenant{Tenant: "globex", Actor: spiffe("admin")}
	h.mustErr(&fsm.DeleteTenant{Tenant: "globex", Actor: spiffe("alice")}, policy.ErrPermissionDenied)
	h.mustErr(&fsm.DeleteTenant{Tenant: "default", Actor: spiffe("admin")}, fsm.ErrBadTransition)
	h.mustErr(&fsm.DeleteTenant{Tenant: "nope", Actor: spiffe("admin")}, fsm.ErrBadTransition)
	h.mustErr(del, fsm.ErrBadTransition) // live keys

	t0 := time.Unix(1_000_000, 0).UnixNano()
	change := func(op fsm.KeyOp, key string, at int64, more func(*fsm.ChangeKey)) {
		c := &fsm.ChangeKey{RequestID: string(op) + key, Op: op, Key: key, Version: 1, Actor: spiffe("alice"), Time: at}
		if more != nil {
			more(c)
		}
		h.mustOK(c)
	}
	for _, k := range []string{"globex/k", "globex/j"} {
		change(fsm.OpPolicy, k, t0, func(c *fsm.ChangeKey) { c.Version, c.DeletionAllowed = 0, new(true) })
		change(fsm.OpRevoke, k, t0, nil)
		change(fsm.OpDestroy, k, t0, func(c *fsm.ChangeKey) { c.Delay = int64(time.Minute) })
	}
	early := &fsm.DeleteTenant{Tenant: "globex", Force: true, Actor: spiffe("admin"), Time: t0 + int64(30*time.Second)}
	h.mustErr(early, fsm.ErrBadTransition) // no destruction is not due yet
	h.mustOK(&fsm.DestroyDue{Key: "globex/k", Version: 1, Time: t0 + int64(2*time.Minute)})
	h.mustErr(del, fsm.ErrBadTransition) // globex/j is only scheduled

	force := &fsm.DeleteTenant{Tenant: "globex", Force: true, Actor: spiffe("admin"), Time: t0 + int64(3*time.Minute)}
	res := h.mustOK(force)
	if !strings.Contains(res.Note, "tenant globex deleted (generation 0)") || !strings.Contains(res.Note, "1 versions destroyed now") {
		t.Errorf("delete note %q", res.Note)
	}
	if k, _ := h.f.Key("globex/j"); k.Versions[0].State != fsm.KeyDestroyed {
		t.Errorf("globex/j v1 is %s after a forced delete, want destroyed", k.Versions[0].State)
	}
	st, _ := h.f.PolicyInForce()
	if slices.Contains(st.Policy.Tenants, "globex") || len(st.Policy.Principals["alice"].Roles) != 1 || st.Policy.Quotas["globex"] != (policy.Quota{}) {
		t.Errorf("policy after delete: tenants %v, alice %v, quotas %v", st.Policy.Tenants, st.Policy.Principals["alice"], st.Policy.Quotas)
	}
	if g := h.f.TenantGeneration("globex"); g != 1 {
		t.Errorf("globex generation %d after one deletion, want 1", g)
	}
	h.mustErr(&fsm.TenantShredded{Tenant: "globex", Generation: 3, Node: "n1"}, fsm.ErrStale)
	h.mustOK(&fsm.TenantShredded{Tenant: "globex", Generation: 0, Node: "n2"})
	h.mustOK(&fsm.TenantShredded{Tenant: "globex", Generation: 0, Node: "n1"})
	if res := h.mustOK(&fsm.TenantShredded{Tenant: "globex", Generation: 0, Node: "n1"}); !res.Duplicate {
		t.Error("a second report of n1 is not a duplicate")
	}
	restored := restoredFSM(t, fsm.DefaultFSMConfig(), snapshotBytes(t, h.f))
	d := restored.TenantDeletions()
	if len(d) != 1 || d[0].Tenant != "globex" || !d[0].Forced || !slices.Equal(d[0].Shredded, []string{"n1", "n2"}) || restored.TenantGeneration("globex") != 1 {
		t.Errorf("restored deletions %+v", d)
	}
	h.mustOK(&fsm.CreateTenant{Tenant: "globex", Actor: spiffe("admin")})
	var list []string
	for _, ti := range h.f.Tenants() {
		list = append(list, ti.Name)
		if ti.Name == "globex" && (ti.Generation != 1 || !ti.Listed || ti.Keys != 0 || ti.Deleted == nil) {
			t.Errorf("globex re-created: %+v", ti)
		}
	}
	if !slices.Equal(list, []string{"acme", "default", "globex", "initech"}) {
		t.Errorf("tenants %v", list)
	}
	var evidence []string
	for _, r := range h.f.AuditRecent(0, 1000) {
		if strings.Contains(r.Reason, "tenant globex") {
			evidence = append(evidence, r.Actor+": "+r.Reason)
		}
	}
	if len(evidence) < 3 {
		t.Errorf("audit evidence of the deletion and the shredding: %q", evidence)
	}
}

// TestTenantCommandsUnderTheBootstrapPolicy: before any policy is set a
// tenant is created into the open policy, which stays open.
func TestTenantCommandsUnderTheBootstrapPolicy(t *testing.T) {
	h := raised(t)
	h.mustOK(&fsm.CreateTenant{Tenant: "acme", Actor: spiffe("admin")}) // open policy: anyone
	if st, _ := h.f.PolicyInForce(); !st.Policy.Open || !slices.Contains(st.Policy.Tenants, "acme") {
		t.Fatalf("after a create under the bootstrap policy: %+v", st.Policy)
	}
	h.mustOK(&fsm.DeleteTenant{Tenant: "acme", Actor: spiffe("admin")})
	if st, _ := h.f.PolicyInForce(); !st.Policy.Open || slices.Contains(st.Policy.Tenants, "acme") {
		t.Fatalf("after a delete under the bootstrap policy: %+v", st.Policy)
	}
	h.mustErr(&fsm.DeleteTenant{Tenant: "acme", Actor: spiffe("admin")}, fsm.ErrBadTransition)
}

func TestAuditScopeByRole(t *testing.T) {
	p, err := policy.Parse([]byte(contractPolicy))
	if err != nil {
		t.Fatal(err)
	}
	p.Denied = []string{"mallory"}
	for _, c := range []struct {
		who     string
		all     bool
		tenants []string
		denied  bool
	}{
		{"admin", true, nil, false},
		{"alice", false, []string{"acme"}, false}, // key-admin on acme
		{"carol", false, []string{"acme"}, false}, // auditor on acme
		{"bob", false, nil, false},                // a signer reads no audit
		{"eve", false, []string{"globex"}, false},
		{"nobody", false, nil, false},
		{"mallory", false, nil, true},
		{"", false, nil, true}, // not a client
	} {
		all, tenants, denied := p.AuditScope(c.who)
		if all != c.all || !slices.Equal(tenants, c.tenants) || denied != c.denied {
			t.Errorf("AuditScope(%q) = %v %v %v, want %v %v %v", c.who, all, tenants, denied, c.all, c.tenants, c.denied)
		}
	}
	for _, c := range []struct {
		key  string
		want bool
	}{{"acme/k", true}, {"globex/k", false}, {"k", false}, {"", false}, {fsm.AuditKeyName, false}} {
		if got := fsm.AuditVisible(false, []string{"acme"}, c.key); got != c.want {
			t.Errorf("AuditVisible(acme, %q) = %v", c.key, got)
		}
	}
	if !fsm.AuditVisible(true, nil, "") {
		t.Error("a cluster-admin does not see the cluster's own records")
	}
}

// TestPolicyCannotDropATenant: a policy document that leaves out a tenant
// that exists (listed by the policy in force, or holding a live key under
// the open bootstrap policy) is refused, whether set directly or by a
// policy ceremony, since only a tenant deletion revokes the tenant's
// handles, raises its generation and orders its key shredded. Once the
// tenant is deleted, the same document installs.
func TestPolicyCannotDropATenant(t *testing.T) {
	h := raised(t)
	h.activeKey("globex/k", algEd25519, 1, "n1", "n2") // under the open bootstrap policy
	const admin = `principals: {admin: {roles: [{role: cluster-admin, tenant: "*"}]}}`
	if res := h.setPolicy("tenants: [acme]\n"+admin, spiffe("admin")); !errors.Is(res.Err, fsm.ErrBadTransition) ||
		!strings.Contains(res.Err.Error(), "leaves out tenant globex;") {
		t.Fatalf("a first policy without globex, which holds a key: %v", res.Err)
	}
	if res := h.setPolicy("tenants: [acme, default, globex]\n"+admin, spiffe("admin")); res.Err != nil {
		t.Fatal(res.Err)
	}
	// acme holds no key, but the policy in force lists it.
	if res := h.setPolicy("tenants: [default, globex]\n"+admin, spiffe("admin")); !errors.Is(res.Err, fsm.ErrBadTransition) ||
		!strings.Contains(res.Err.Error(), "leaves out tenant acme;") {
		t.Fatalf("a policy without the listed tenant acme: %v", res.Err)
	}
	h.mustOK(&fsm.DeleteTenant{Tenant: "acme", Actor: spiffe("admin")})
	if res := h.setPolicy("tenants: [default, globex]\n"+admin, spiffe("admin")); res.Err != nil {
		t.Fatalf("the same document after acme's deletion: %v", res.Err)
	}
	if g := h.f.TenantGeneration("acme"); g != 1 {
		t.Errorf("acme's generation %d after its deletion, want 1", g)
	}
}
