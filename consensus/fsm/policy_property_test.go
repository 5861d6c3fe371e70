package fsm_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// The reference model of the authorization rules: written from the
// rules' statement, not from Decide, and checked against the FSM on
// random policies and requests, with a snapshot and restore midway.

var (
	propPrincipals = []string{"admin", "alice", "bob", "carol", "eve"}
	propTenants    = []string{"default", "acme", "globex"}
	propKeyNames   = []string{"k", "acme/k", "acme/j", "globex/k", "nope/k"}
	propRoles      = []string{"key-admin", "issuer", "signer", "auditor", "cluster-admin"}
)

type mGrant struct {
	role, tenant string
	purposes     []string
	maxTTL       time.Duration
}

type authModel struct {
	closed  bool
	tenants []string
	grants  map[string][]mGrant
	quotas  map[string][2]int // keys, handles
	denied  map[string]bool
	keys    map[string]bool
	handles map[string]int // live handles by tenant
}

func (m *authModel) has(who, role, tenant string) bool {
	for _, g := range m.grants[who] {
		if g.role == role && (g.tenant == tenant || g.tenant == "*") {
			return true
		}
	}
	return false
}

func tenantOf(key string) string {
	if t, _, ok := strings.Cut(key, "/"); ok {
		return t
	}
	return "default"
}

// decide is the model's verdict: ok, perm, notfound or quota.
func (m *authModel) decide(actor, act, key, purpose string, ttl time.Duration) string {
	who, client := strings.CutPrefix(actor, "spiffe://kq-test/client/")
	if client && m.denied[who] {
		return "perm"
	}
	if !m.closed {
		return "ok"
	}
	if !client {
		return "perm"
	}
	if act == "admin" {
		if m.has(who, "cluster-admin", "*") {
			return "ok"
		}
		return "perm"
	}
	t := tenantOf(key)
	hidden := "notfound"
	if act == "create" {
		hidden = "perm"
	}
	seen := false
	for _, r := range []string{"key-admin", "issuer", "signer", "auditor"} {
		seen = seen || m.has(who, r, t)
	}
	if !slices.Contains(m.tenants, t) || !seen {
		return hidden
	}
	switch act {
	case "create", "change":
		if !m.has(who, "key-admin", t) {
			return "perm"
		}
		if act == "create" && !m.keys[key] && m.quotas[t][0] > 0 && m.countKeys(t) >= m.quotas[t][0] {
			return "quota"
		}
	case "issue":
		ok := false
		for _, g := range m.grants[who] {
			if g.role == "issuer" && (g.tenant == t || g.tenant == "*") &&
				(len(g.purposes) == 0 || slices.Contains(g.purposes, purpose)) && (g.maxTTL == 0 || ttl <= g.maxTTL) {
				ok = true
			}
		}
		if !ok {
			return "perm"
		}
		if m.quotas[t][1] > 0 && m.handles[t] >= m.quotas[t][1] {
			return "quota"
		}
	}
	return "ok"
}

// dropsTenant: only a tenant deletion takes away a tenant that exists,
// one the closed policy in force lists or one holding a key (the model's
// keys are never destroyed).
func (m *authModel) dropsTenant(next *authModel) bool {
	var exist []string
	if m.closed {
		exist = slices.Clone(m.tenants)
	}
	for k := range m.keys {
		exist = append(exist, tenantOf(k))
	}
	return slices.ContainsFunc(exist, func(t string) bool { return !slices.Contains(next.tenants, t) })
}

func (m *authModel) countKeys(t string) int {
	n := 0
	for k := range m.keys {
		if tenantOf(k) == t {
			n++
		}
	}
	return n
}

// propDoc is a random policy document, as a user would write it.
type propDoc struct {
	Tenants    []string                  `json:"tenants"`
	Principals map[string]map[string]any `json:"principals"`
	SoD        *[][]string               `json:"separation_of_duties,omitempty"`
	Quotas     map[string]map[string]int `json:"quotas,omitempty"`
	Denied     []string                  `json:"denied,omitempty"`
}

func drawDoc(t *rapid.T) (propDoc, bool) {
	d := propDoc{Tenants: rapid.SliceOfDistinct(rapid.SampledFrom(propTenants), rapid.ID).Draw(t, "tenants"), Principals: map[string]map[string]any{}}
	for _, who := range rapid.SliceOfDistinct(rapid.SampledFrom(propPrincipals), rapid.ID).Draw(t, "principals") {
		var roles []map[string]any
		for range rapid.IntRange(0, 3).Draw(t, "grants") {
			g := map[string]any{"role": rapid.SampledFrom(propRoles).Draw(t, "role"),
				"tenant": rapid.SampledFrom(append([]string{"*", "*"}, propTenants...)).Draw(t, "tenant")}
			if g["role"] == "issuer" && rapid.Bool().Draw(t, "narrow") {
				g["purposes"] = []string{rapid.SampledFrom([]string{"sign", "deploy"}).Draw(t, "purpose")}
				g["max_ttl"] = rapid.SampledFrom([]string{"1m", "1h"}).Draw(t, "maxTTL")
			}
			roles = append(roles, g)
		}
		d.Principals[who] = map[string]any{"roles": roles}
	}
	explicitSoD := rapid.Bool().Draw(t, "explicitSoD")
	if explicitSoD {
		pairs := [][]string{}
		for range rapid.IntRange(0, 2).Draw(t, "pairs") {
			a := rapid.SampledFrom(propRoles).Draw(t, "a")
			b := rapid.SampledFrom(propRoles).Draw(t, "b")
			pairs = append(pairs, []string{a, b})
		}
		d.SoD = &pairs
	}
	if rapid.Bool().Draw(t, "quotas") {
		d.Quotas = map[string]map[string]int{rapid.SampledFrom(propTenants).Draw(t, "quotaTenant"): {
			"keys": rapid.IntRange(0, 2).Draw(t, "qk"), "handles": rapid.IntRange(0, 2).Draw(t, "qh")}}
	}
	d.Denied = rapid.SliceOfDistinct(rapid.SampledFrom(propPrincipals), rapid.ID).Draw(t, "denied")
	return d, explicitSoD
}

// modelOf returns the model's reading of d, or false when the rules
// refuse it whole.
func modelOf(d propDoc, explicitSoD bool) (*authModel, bool) {
	m := &authModel{closed: true, tenants: append(slices.Clone(d.Tenants), "default"), grants: map[string][]mGrant{}, quotas: map[string][2]int{}, denied: map[string]bool{}}
	if _, ok := d.Principals["admin"]; !ok {
		m.grants["admin"] = []mGrant{{role: "cluster-admin", tenant: "*"}}
	}
	for who, pr := range d.Principals {
		seen := map[string]bool{}
		for _, g := range pr["roles"].([]map[string]any) {
			mg := mGrant{role: g["role"].(string), tenant: g["tenant"].(string)}
			if p, ok := g["purposes"]; ok {
				mg.purposes = p.([]string)
				mg.maxTTL, _ = time.ParseDuration(g["max_ttl"].(string))
			}
			if mg.role == "cluster-admin" && mg.tenant != "*" {
				return nil, false
			}
			if mg.tenant != "*" && !slices.Contains(m.tenants, mg.tenant) || seen[mg.role+mg.tenant] {
				return nil, false
			}
			seen[mg.role+mg.tenant] = true
			m.grants[who] = append(m.grants[who], mg)
		}
	}
	sod := [][]string{{"issuer", "signer"}, {"key-admin", "auditor"}}
	if explicitSoD {
		sod = *d.SoD
	}
	for _, pair := range sod {
		if pair[0] == pair[1] {
			return nil, false
		}
		for who := range m.grants {
			for _, t := range m.tenants {
				if m.has(who, pair[0], t) && m.has(who, pair[1], t) {
					return nil, false
				}
			}
		}
	}
	for t, q := range d.Quotas {
		if !slices.Contains(m.tenants, t) {
			return nil, false
		}
		m.quotas[t] = [2]int{q["keys"], q["handles"]}
	}
	for _, who := range d.Denied {
		m.denied[who] = true
	}
	return m, m.hasAdmin()
}

func (m *authModel) hasAdmin() bool {
	for who := range m.grants {
		if m.has(who, "cluster-admin", "*") && !m.denied[who] {
			return true
		}
	}
	return false
}

func classOf(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, policy.ErrPermissionDenied):
		return "perm"
	case errors.Is(err, fsm.ErrUnknownKey):
		return "notfound"
	case errors.Is(err, fsm.ErrTooManyKeys), errors.Is(err, fsm.ErrTooManyHandles):
		return "quota"
	case errors.Is(err, policy.ErrInvalid):
		return "invalid"
	case errors.Is(err, fsm.ErrBadTransition) && strings.Contains(err.Error(), "leaves out tenant"):
		return "drops-tenant"
	}
	return "other: " + err.Error()
}

func TestPolicyMatchesTheReferenceModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		h := raised(t)
		m := &authModel{keys: map[string]bool{}, handles: map[string]int{}, denied: map[string]bool{}}
		steps := rapid.IntRange(10, 60).Draw(rt, "steps")
		for step := range steps {
			if step == steps/2 { // the rules hold across a snapshot and restore
				h.f = restoredFSM(t, fsm.DefaultFSMConfig(), snapshotBytes(t, h.f))
			}
			actor := "spiffe://kq-test/client/" + rapid.SampledFrom(propPrincipals).Draw(rt, "actor")
			if rapid.IntRange(0, 9).Draw(rt, "internal") == 0 {
				actor = "node:n1"
			}
			key := rapid.SampledFrom(propKeyNames).Draw(rt, "key")
			id := fmt.Sprint(step)
			var want, got string
			switch op := rapid.IntRange(0, 4).Draw(rt, "op"); op {
			case 0:
				want = m.decide(actor, "create", key, "", 0)
				if want == "ok" && m.keys[key] {
					want = "other: create key \"" + key + "\": key already exists"
				}
				got = classOf(h.apply(&fsm.CreateKey{RequestID: "c" + id, Name: key, Algorithm: algEd25519, Threshold: 1,
					Members: []string{"n1", "n2"}, Purposes: []string{"deploy", "sign"}, Actor: actor}).Err)
				if got == "ok" {
					m.keys[key] = true
				}
			case 1:
				want = "notfound"
				if m.keys[key] {
					want = m.decide(actor, "change", key, "", 0)
				}
				got = classOf(h.apply(&fsm.ChangeKey{RequestID: "p" + id, Op: fsm.OpPolicy, Key: key, DeletionAllowed: new(true), Actor: actor}).Err)
				if want == "ok" && got != "perm" && got != "notfound" && got != "quota" {
					got = "ok" // the lifecycle's own verdict is not the policy's
				}
			case 2:
				purpose := rapid.SampledFrom([]string{"sign", "deploy"}).Draw(rt, "purpose")
				ttl := rapid.SampledFrom([]time.Duration{30 * time.Second, 2 * time.Hour}).Draw(rt, "ttl")
				want = "notfound"
				if m.keys[key] {
					want = m.decide(actor, "issue", key, purpose, ttl)
				}
				got = classOf(h.apply(&fsm.IssueHandle{RequestID: "i" + id, HandleID: "h" + id, TokenHash: fsm.HandleTokenHash([]byte(id)),
					Key: key, Purpose: purpose, TTL: int64(ttl), Actor: actor}).Err)
				if got == "ok" {
					m.handles[tenantOf(key)]++
				}
			case 3:
				target := rapid.SampledFrom(propPrincipals).Draw(rt, "target")
				want = m.decide(actor, "admin", "", "", 0)
				if want == "ok" && !m.denied[target] {
					m.denied[target] = true
					if m.closed && !m.hasAdmin() {
						want = "invalid"
						delete(m.denied, target)
					}
				}
				got = classOf(h.apply(&fsm.RevokePrincipal{Principal: target, Actor: actor}).Err)
			case 4:
				d, explicit := drawDoc(rt)
				next, valid := modelOf(d, explicit)
				raw, _ := json.Marshal(d)
				p, err := policy.Parse(raw)
				if (err == nil) != valid {
					rt.Fatalf("ParsePolicy(%s) = %v; the model says valid=%v", raw, err, valid)
				}
				if !valid {
					continue
				}
				data, sum, _ := p.Canonical()
				want = m.decide(actor, "admin", "", "", 0)
				if want == "ok" && m.dropsTenant(next) {
					want = "drops-tenant"
				}
				got = classOf(h.apply(&fsm.SetPolicy{Document: string(data), SHA256: sum, Actor: actor}).Err)
				if want == "ok" {
					next.keys, next.handles = m.keys, m.handles
					m = next
				}
			}
			if got != want {
				rt.Fatalf("step %d: got %s, the model says %s", step, got, want)
			}
		}
	})
}
