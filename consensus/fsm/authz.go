package fsm

import (
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/authz"
	"github.com/keyquorum/keyquorum/consensus/fsm/freeze"
	"github.com/keyquorum/keyquorum/consensus/fsm/handles"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// authorize decides a client's request at its entry's index, before the
// entry does anything (package authz): a refusal by the policy or for a
// missing ceremony changes no state and leaves its audit record.
func (f *FSM) authorize(cmd Command) error {
	return authz.Entry(authzState{f}, cmd, bugsCompiled && f.cfg.AuthzSkip)
}

// authzState is the replicated state as package authz reads it.
type authzState struct{ f *FSM }

func (s authzState) Policy() *policy.Policy       { return s.f.policy() }
func (s authzState) Frozen() *freeze.Frozen       { return s.f.st.Frozen }
func (s authzState) TenantKeys(tenant string) int { return s.f.tenantKeys(tenant) }

func (s authzState) Handle(id string) (*handles.Handle, bool) {
	h, ok := s.f.st.Handles[id]
	return h, ok
}

func (s authzState) Key(name string) (*Key, bool) {
	k, ok := s.f.st.Keys[name]
	return k, ok
}

func (s authzState) Remembered(requestID string) bool {
	_, ok := s.f.st.Requests[requestID]
	return ok
}

func (s authzState) Signing(requestID string) bool {
	_, ok := s.f.st.Signs[requestID]
	return ok
}

func (s authzState) TenantHandles(tenant string) int {
	n := 0
	for _, h := range s.f.st.Handles {
		if !h.Revoked && s.f.st.Time < h.Expires && policy.TenantOf(h.Key) == tenant {
			n++
		}
	}
	return n
}

func (s authzState) Sessions(tenant, actor string) (ofTenant, ofActor int) {
	for _, id := range s.f.st.Records.PendingIDs() {
		sg := s.f.st.Signs[id]
		if IsAuditKey(sg.Key) {
			continue // the cluster's own checkpoint signatures
		}
		if policy.TenantOf(sg.Key) == tenant {
			ofTenant++
		}
		if sg.Actor == actor {
			ofActor++
		}
	}
	return ofTenant, ofActor
}

// tenantKeys is the tenant's key weight: each key counts KeyWeight of its
// algorithm.
func (f *FSM) tenantKeys(tenant string) int {
	n := 0
	for name, k := range f.st.Keys {
		if !IsAuditKey(name) && policy.TenantOf(name) == tenant {
			n += policy.KeyWeight(k.Algorithm)
		}
	}
	return n
}

// Authorize decides a request of actor on key under the policy in force
// on this replica, for reads served here and for refusing early what the
// log would refuse anyway.
func (f *FSM) Authorize(actor string, a policy.Action, key string) policy.Decision {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return policy.Decide(f.policy(), authz.Request(actor, "", a, key))
}

// AuthorizeErr is Authorize as the error the entry would carry.
func (f *FSM) AuthorizeErr(actor string, a policy.Action, key string) error {
	return authz.Err(f.Authorize(actor, a, key), string(a), key)
}

// AuditScope is Policy.AuditScope for actor under the policy in force on
// this replica; reads are filtered where they are served.
func (f *FSM) AuditScope(actor string) (all bool, tenants []string, err error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	who, _ := policy.PrincipalOf(actor)
	all, tenants, denied := f.policy().AuditScope(who)
	if denied {
		return false, nil, fmt.Errorf("read audit: %w (%s)", policy.ErrPermissionDenied, policy.ReasonPrincipalDenied)
	}
	return all, tenants, nil
}

// SerialDenied reports whether a client certificate serial (canonical
// form) is on the deny-list of the policy in force on this replica.
func (f *FSM) SerialDenied(serial string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Contains(f.policy().DeniedSerials, serial)
}

// AuditVisible reports whether a record naming key may be shown to a
// reader of scope (all, tenants).
func AuditVisible(all bool, tenants []string, key string) bool {
	return all || key != "" && !IsAuditKey(key) && slices.Contains(tenants, policy.TenantOf(key))
}

// SignRates returns the sign_per_second quotas that bound a sign by actor
// with key under the policy in force: the key's tenant's and the actor's
// own (0: unbounded). The leader takes a token from each before it
// appends the request.
func (f *FSM) SignRates(actor, key string) (tenant, principal int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	p := f.policy()
	if p.Open {
		return 0, 0
	}
	who, _ := policy.PrincipalOf(actor)
	tenant = p.Quotas[policy.TenantOf(key)].SignPerSecond
	if q := p.Principals[who].Quota; q != nil {
		principal = q.SignPerSecond
	}
	return tenant, principal
}

// AdmitSign reports the quota refusal the FSM would give a new sign by
// actor with key now, so the leader refuses it before it costs an entry.
// Every other verdict is left to the entry, which decides it again.
func (f *FSM) AdmitSign(actor, key, requestID string) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if _, retry := f.st.Signs[requestID]; retry {
		return nil
	}
	d := policy.Decide(f.policy(), authz.SignRequest(authzState{f}, actor, "", key))
	if d.Verdict != policy.DenyQuota {
		return nil
	}
	return authz.Err(d, "sign with", key)
}
