package fsm

import (
	"fmt"
	"slices"
	"strings"

	"github.com/keyquorum/keyquorum/consensus/policy"
)

// authorize decides a client's request at its entry's index, before the
// entry does anything: a refusal changes no state and leaves its audit
// record. Entries the cluster makes itself (reports, retries) carry no
// client and are not decided here; of the requests, only the audit key's
// own creation and checkpoint signatures come from a member.
func (f *FSM) authorize(cmd Command) error {
	p := f.policy()
	// req carries the certificate the request came with, for the deny-list
	// by serial: the same on every replica, since the entry carries it.
	req := func(actor, serial string, a policy.Action, key string, more func(*policy.AuthRequest)) policy.AuthRequest {
		r := f.request(actor, a, key, more)
		r.Serial = serial
		return r
	}
	switch c := cmd.(type) {
	case *CreateKey:
		if internalActor(c.Actor) && IsAuditKey(c.Name) {
			return nil
		}
		keys, weight := 0, 0
		if _, exists := f.st.Keys[c.Name]; !exists { // a retry adds no key
			keys, weight = f.tenantKeys(policy.TenantOf(c.Name)), policy.KeyWeight(c.Algorithm)
		}
		return verdictErr(policy.Decide(p, req(c.Actor, c.ActorSerial, policy.ActCreateKey, c.Name, func(r *policy.AuthRequest) { r.Keys, r.Weight = keys, weight })), "create key", c.Name)
	case *ChangeKey:
		if _, ok := f.st.Keys[c.Key]; !ok {
			return nil // the entry answers unknown key itself
		}
		return verdictErr(policy.Decide(p, req(c.Actor, c.ActorSerial, policy.ActChangeKey, c.Key, nil)), string(c.Op), c.Key)
	case *ReshareKey:
		if _, ok := f.st.Keys[c.Key]; !ok || internalActor(c.Actor) {
			return nil // the membership reconciler's reshares are the cluster's own
		}
		return verdictErr(policy.Decide(p, req(c.Actor, c.ActorSerial, policy.ActChangeKey, c.Key, nil)), "reshare", c.Key)
	case *IssueHandle:
		if _, ok := f.st.Keys[c.Key]; !ok {
			return nil
		}
		handles := 0
		if _, retry := f.st.Requests[c.RequestID]; !retry {
			handles = f.tenantHandles(policy.TenantOf(c.Key))
		}
		return verdictErr(policy.Decide(p, req(c.Actor, c.ActorSerial, policy.ActIssueHandle, c.Key, func(r *policy.AuthRequest) {
			r.Purpose, r.TTL, r.Handles = c.Purpose, c.TTL, handles
		})), "issue handle for", c.Key)
	case *RevokeHandle:
		h, ok := f.st.Handles[c.HandleID]
		if !ok {
			return nil
		}
		if d := policy.Decide(p, req(c.Actor, c.ActorSerial, policy.ActRevokeHandle, h.Key, nil)); d.Verdict == policy.DenyNotFound {
			// Reads exactly as an unknown handle does.
			return fmt.Errorf("revoke handle %s: %w: unknown or expired", c.HandleID, ErrHandleDenied)
		} else if err := verdictErr(d, "revoke handle for", h.Key); err != nil {
			return err
		}
	case *SignRequested:
		if internalActor(c.Actor) && IsAuditKey(c.Key) && c.Handle == "" {
			return nil
		}
		if _, ok := f.st.Keys[c.Key]; ok {
			r := req(c.Actor, c.ActorSerial, policy.ActSign, c.Key, nil)
			if _, retry := f.st.Signs[c.RequestID]; !retry { // a retry holds its session already
				r = f.signRequest(c.Actor, c.Key)
				r.Serial = c.ActorSerial
			}
			d := policy.Decide(p, r)
			if bugsCompiled && f.cfg.AuthzSkip && d.Reason == policy.ReasonMissingRole {
				d = policy.Decision{}
			}
			if err := verdictErr(d, "sign with", c.Key); err != nil {
				return err
			}
		}
		// A handle dies with its issuer's revocation: a leaked issuer
		// certificate's handles must not outlive it.
		if h, ok := f.st.Handles[c.Handle]; ok {
			if who, client := policy.PrincipalOf(h.Actor); client && policy.Decide(p, policy.AuthRequest{Principal: who}).Reason == policy.ReasonPrincipalDenied {
				return fmt.Errorf("sign with %q: %w: handle %s was issued by revoked principal %s", c.Key, ErrHandleDenied, h.ID, who)
			}
			if h.ActorSerial != "" && slices.Contains(p.DeniedSerials, h.ActorSerial) {
				return fmt.Errorf("sign with %q: %w: handle %s was issued with revoked certificate %s", c.Key, ErrHandleDenied, h.ID, h.ActorSerial)
			}
		}
	case *SetPolicy:
		return verdictErr(policy.Decide(p, req(c.Actor, c.ActorSerial, policy.ActSetPolicy, "", nil)), "set policy", "")
	case *RevokePrincipal:
		return verdictErr(policy.Decide(p, req(c.Actor, c.ActorSerial, policy.ActSetPolicy, "", nil)), "revoke principal", c.Principal)
	case *CreateTenant:
		return verdictErr(policy.Decide(p, req(c.Actor, c.ActorSerial, policy.ActSetPolicy, "", nil)), "create tenant", c.Tenant)
	case *DeleteTenant:
		return verdictErr(policy.Decide(p, req(c.Actor, c.ActorSerial, policy.ActSetPolicy, "", nil)), "delete tenant", c.Tenant)
	}
	return nil
}

func (f *FSM) request(actor string, a policy.Action, key string, more func(*policy.AuthRequest)) policy.AuthRequest {
	who, _ := policy.PrincipalOf(actor)
	r := policy.AuthRequest{Principal: who, Action: a, Tenant: policy.TenantOf(key)}
	if more != nil {
		more(&r)
	}
	return r
}

// verdictErr turns a denial into the entry's error. A hidden key reads
// exactly like an unknown one.
func verdictErr(d policy.Decision, what, key string) error {
	switch d.Verdict {
	case policy.DenyNotFound:
		return fmt.Errorf("%s %q: %w", what, key, ErrUnknownKey)
	case policy.DenyQuota:
		return fmt.Errorf("%s %q: %w", what, key, d.Quota)
	case policy.DenyPermission:
		why := string(d.Reason)
		if d.Role != "" {
			why += " " + string(d.Role)
		}
		if key == "" {
			return fmt.Errorf("%s: %w (%s)", what, policy.ErrPermissionDenied, why)
		}
		return fmt.Errorf("%s %q: %w (%s)", what, key, policy.ErrPermissionDenied, why)
	}
	return nil
}

// internalActor reports whether an actor is the cluster itself: a member
// or the leader's supervisor, never a client.
func internalActor(actor string) bool {
	return strings.HasPrefix(actor, nodeActorPrefix) || actor == ActorSupervisor
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

// tenantHandles counts the tenant's handles that still count: neither
// expired nor revoked.
func (f *FSM) tenantHandles(tenant string) int {
	n := 0
	for _, h := range f.st.Handles {
		if !h.Revoked && f.st.Time < h.Expires && policy.TenantOf(h.Key) == tenant {
			n++
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
	return policy.Decide(f.policy(), f.request(actor, a, key, nil))
}

// AuthorizeErr is Authorize as the error the entry would carry.
func (f *FSM) AuthorizeErr(actor string, a policy.Action, key string) error {
	return verdictErr(f.Authorize(actor, a, key), string(a), key)
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
	d := policy.Decide(f.policy(), f.signRequest(actor, key))
	if d.Verdict != policy.DenyQuota {
		return nil
	}
	return verdictErr(d, "sign with", key)
}

// signRequest is the authorization request of a new sign, with the
// sessions the key's tenant and the actor hold now.
func (f *FSM) signRequest(actor, key string) policy.AuthRequest {
	r := f.request(actor, policy.ActSign, key, nil)
	for _, id := range f.st.Records.PendingIDs() {
		s := f.st.Signs[id]
		if IsAuditKey(s.Key) {
			continue // the cluster's own checkpoint signatures
		}
		if policy.TenantOf(s.Key) == r.Tenant {
			r.Sessions++
		}
		if s.Actor == actor {
			r.PrincipalSessions++
		}
	}
	return r
}
