package commands

import (
	"github.com/keyquorum/keyquorum/consensus/fsm/authz"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/freeze"
	"github.com/keyquorum/keyquorum/consensus/fsm/handles"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// authorize decides a client's request at its entry's index, before the
// entry does anything (package authz): a refusal by the policy or for a
// missing ceremony changes no state and leaves its audit record.
func (f *Machine) authorize(cmd entry.Command) error {
	return authz.Entry(authzState{f}, cmd, bugsCompiled && f.cfg.AuthzSkip)
}

// authzState is the replicated state as package authz reads it.
type authzState struct{ f *Machine }

func (s authzState) Policy() *policy.Policy       { return s.f.policy() }
func (s authzState) Frozen() *freeze.Frozen       { return s.f.st.Frozen }
func (s authzState) TenantKeys(tenant string) int { return s.f.tenantKeys(tenant) }

func (s authzState) Handle(id string) (*handles.Handle, bool) {
	h, ok := s.f.st.Handles[id]
	return h, ok
}

func (s authzState) Key(name string) (*keys.Key, bool) {
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
		if entry.IsAuditKey(sg.Key) {
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
func (f *Machine) tenantKeys(tenant string) int {
	n := 0
	for name, k := range f.st.Keys {
		if !entry.IsAuditKey(name) && policy.TenantOf(name) == tenant {
			n += policy.KeyWeight(k.Algorithm)
		}
	}
	return n
}
