// Package authz decides a client's entry under the policy in force: it
// turns the command into the policy's AuthRequest, with the counts its
// quotas need, and the policy's Decision into the entry's error; and it
// refuses the direct forms of changes the policy puts behind a ceremony,
// and signing while the cluster is frozen. The
// state machine runs it at the entry's index, before the entry does
// anything, so a refusal changes no state and every replica reaches the
// same verdict. Entries the cluster makes itself (reports, retries) carry
// no client and are not decided here; of the requests, only the audit
// key's own creation and checkpoint signatures come from a member.
package authz

import (
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/freeze"
	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
	"github.com/keyquorum/keyquorum/consensus/fsm/handles"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// State is what a decision reads of the replicated state.
type State interface {
	// Policy is the policy in force.
	Policy() *policy.Policy
	// Key returns the key of this name.
	Key(name string) (*keys.Key, bool)
	// TenantKeys is the tenant's key weight: each key counts
	// policy.KeyWeight of its algorithm.
	TenantKeys(tenant string) int
	// TenantHandles counts the tenant's handles that still count: neither
	// expired nor revoked.
	TenantHandles(tenant string) int
	// Remembered reports whether a lifecycle request of this id is
	// remembered, Signing whether a sign request of this id has a record:
	// a retry adds nothing a quota counts.
	Remembered(requestID string) bool
	Signing(requestID string) bool
	// Sessions counts the pending signs of tenant's keys and of actor,
	// the cluster's own checkpoint signatures aside.
	Sessions(tenant, actor string) (ofTenant, ofActor int)
	// Handle returns the handle with this id.
	Handle(id string) (*handles.Handle, bool)
	// Frozen is the freeze in force, nil when none.
	Frozen() *freeze.Frozen
}

// Entry decides cmd, a command about to apply, and returns the error the
// entry carries when the policy refuses its actor or the change needs a
// ceremony. skipSignerRole is the deliberate bug of kqd_bugs builds
// (fsm.FSMConfig.AuthzSkip): a sign is not refused for its principal's
// missing signer role.
func Entry(s State, cmd entry.Command, skipSignerRole bool) error {
	if err := decide(s, cmd, skipSignerRole); err != nil {
		return err
	}
	return gate(s, cmd)
}

// decide asks the policy whether cmd's actor may do what it asks.
func decide(s State, cmd entry.Command, skipSignerRole bool) error {
	p := s.Policy()
	switch c := cmd.(type) {
	case *entry.CreateKey:
		if entry.Internal(c.Actor) && entry.IsAuditKey(c.Name) {
			return nil
		}
		r := Request(c.Actor, c.ActorSerial, policy.ActCreateKey, c.Name)
		if !has(s, c.Name) { // a retry adds no key
			r.Keys, r.Weight = s.TenantKeys(r.Tenant), policy.KeyWeight(c.Algorithm)
		}
		return Err(policy.Decide(p, r), "create key", c.Name)
	case *entry.ChangeKey:
		if !has(s, c.Key) {
			return nil // the entry answers unknown key itself
		}
		return Err(policy.Decide(p, Request(c.Actor, c.ActorSerial, policy.ActChangeKey, c.Key)), string(c.Op), c.Key)
	case *entry.ReshareKey:
		if !has(s, c.Key) || entry.Internal(c.Actor) {
			return nil // the membership reconciler's reshares are the cluster's own
		}
		return Err(policy.Decide(p, Request(c.Actor, c.ActorSerial, policy.ActChangeKey, c.Key)), "reshare", c.Key)
	case *entry.IssueHandle:
		if !has(s, c.Key) {
			return nil
		}
		r := Request(c.Actor, c.ActorSerial, policy.ActIssueHandle, c.Key)
		r.Purpose, r.TTL = c.Purpose, c.TTL
		if !s.Remembered(c.RequestID) {
			r.Handles = s.TenantHandles(r.Tenant)
		}
		return Err(policy.Decide(p, r), "issue handle for", c.Key)
	case *entry.RevokeHandle:
		h, ok := s.Handle(c.HandleID)
		if !ok {
			return nil
		}
		d := policy.Decide(p, Request(c.Actor, c.ActorSerial, policy.ActRevokeHandle, h.Key))
		if d.Verdict == policy.DenyNotFound {
			// Reads exactly as an unknown handle does.
			return fmt.Errorf("revoke handle %s: %w: unknown or expired", c.HandleID, handles.ErrHandleDenied)
		}
		return Err(d, "revoke handle for", h.Key)
	case *entry.SignRequested:
		return sign(s, p, c, skipSignerRole)
	case *entry.SetPolicy:
		return Admin(p, c.Actor, c.ActorSerial, "set policy", "")
	case *entry.RevokePrincipal:
		return Admin(p, c.Actor, c.ActorSerial, "revoke principal", c.Principal)
	case *entry.CreateTenant:
		return Admin(p, c.Actor, c.ActorSerial, "create tenant", c.Tenant)
	case *entry.DeleteTenant:
		return Admin(p, c.Actor, c.ActorSerial, "delete tenant", c.Tenant)
	}
	return nil
}

// has reports whether a key of this name exists.
func has(s State, name string) bool {
	_, ok := s.Key(name)
	return ok
}

// sign decides a sign request: the signer's role and quotas on the key,
// then the handle's issuer, whose revocation ends its handles.
func sign(s State, p *policy.Policy, c *entry.SignRequested, skipSignerRole bool) error {
	if entry.Internal(c.Actor) && entry.IsAuditKey(c.Key) && c.Handle == "" {
		return nil
	}
	if has(s, c.Key) {
		r := Request(c.Actor, c.ActorSerial, policy.ActSign, c.Key)
		if !s.Signing(c.RequestID) { // a retry holds its session already
			r = SignRequest(s, c.Actor, c.ActorSerial, c.Key)
		}
		d := policy.Decide(p, r)
		if skipSignerRole && d.Reason == policy.ReasonMissingRole {
			d = policy.Decision{}
		}
		if err := Err(d, "sign with", c.Key); err != nil {
			return err
		}
	}
	// A handle dies with its issuer's revocation: a leaked issuer
	// certificate's handles must not outlive it.
	if h, ok := s.Handle(c.Handle); ok {
		if who, client := policy.PrincipalOf(h.Actor); client && policy.Decide(p, policy.AuthRequest{Principal: who}).Reason == policy.ReasonPrincipalDenied {
			return fmt.Errorf("sign with %q: %w: handle %s was issued by revoked principal %s", c.Key, handles.ErrHandleDenied, h.ID, who)
		}
		if h.ActorSerial != "" && slices.Contains(p.DeniedSerials, h.ActorSerial) {
			return fmt.Errorf("sign with %q: %w: handle %s was issued with revoked certificate %s", c.Key, handles.ErrHandleDenied, h.ID, h.ActorSerial)
		}
	}
	return nil
}

// Request is the authorization request of actor, through the client
// certificate of serial ("" when none is known), for action a on key ("":
// none).
func Request(actor, serial string, a policy.Action, key string) policy.AuthRequest {
	who, _ := policy.PrincipalOf(actor)
	return policy.AuthRequest{Principal: who, Action: a, Tenant: policy.TenantOf(key), Serial: serial}
}

// SignRequest is the authorization request of a new sign, with the
// sessions the key's tenant and the actor hold now.
func SignRequest(s State, actor, serial, key string) policy.AuthRequest {
	r := Request(actor, serial, policy.ActSign, key)
	r.Sessions, r.PrincipalSessions = s.Sessions(r.Tenant, actor)
	return r
}

// Admin refuses what actor, through the certificate of serial, may not do
// unless a cluster-admin: what names the change, subject what it is about
// ("" when nothing).
func Admin(p *policy.Policy, actor, serial, what, subject string) error {
	return Err(policy.Decide(p, Request(actor, serial, policy.ActSetPolicy, "")), what, subject)
}

// Err turns a denial into the entry's error, nil for an allowed request.
// A hidden key reads exactly like an unknown one.
func Err(d policy.Decision, what, key string) error {
	switch d.Verdict {
	case policy.DenyNotFound:
		return fmt.Errorf("%s %q: %w", what, key, fsmerr.ErrUnknownKey)
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

// gate refuses, once the policy lists operators, the direct forms of the
// changes the kinds table puts behind a ceremony, and every sign request
// while the cluster is frozen. (A direct membership change is refused by
// the state machine's ChangeMembers itself.)
func gate(s State, cmd entry.Command) error {
	p := s.Policy()
	switch c := cmd.(type) {
	case *entry.SignRequested:
		if err := s.Frozen().RefuseSign(c.Key, entry.IsAuditKey(c.Key)); err != nil {
			return err
		}
	case *entry.SetPolicy:
		if p.HasOperators() {
			return fmt.Errorf("set policy: %w: kind %s", ceremony.ErrRequired, ceremony.PolicyKind(p, c.Document))
		}
	case *entry.CreateTenant:
		if p.HasOperators() {
			return fmt.Errorf("create tenant %q: %w: kind %s", c.Tenant, ceremony.ErrRequired, policy.KindTenantCreate)
		}
	case *entry.DeleteTenant:
		if p.HasOperators() {
			return fmt.Errorf("delete tenant %q: %w: kind %s", c.Tenant, ceremony.ErrRequired, policy.KindTenantDelete)
		}
	case *entry.ReshareKey:
		// The membership reconciler's reshares keep the threshold, and a
		// refresh at the same threshold stays the key-admin's.
		k, ok := s.Key(c.Key)
		if ok && !entry.Internal(c.Actor) && c.Threshold != k.Threshold && p.HasOperators() {
			return fmt.Errorf("reshare %q to threshold %d: %w: kind %s", c.Key, c.Threshold, ceremony.ErrRequired, policy.KindThreshold)
		}
	case *entry.RaiseProtocol:
		// The leader's automatic raise; with operators an upgrade's point
		// of no return is theirs to pass.
		if p.HasOperators() {
			return fmt.Errorf("raise protocol to %d: %w: kind %s", c.Version, ceremony.ErrRequired, policy.KindProtocolUpgrade)
		}
	case *entry.ChangeKey:
		k, ok := s.Key(c.Key)
		if !ok || !p.HasOperators() {
			return nil
		}
		lowers := func(floor *uint32, cur uint32) bool { return floor != nil && *floor < cur }
		switch {
		case c.Op == entry.OpDestroy:
			return fmt.Errorf("destroy %q: %w: kind %s", c.Key, ceremony.ErrRequired, policy.KindKeyDestroy)
		case c.Op == entry.OpPolicy && (c.DeletionAllowed != nil && *c.DeletionAllowed && !k.DeletionAllowed ||
			lowers(c.MinSignVersion, k.MinSignVersion) || lowers(c.MinVerifyVersion, k.MinVerifyVersion)):
			return fmt.Errorf("policy of %q: allowing deletion or lowering a floor %w: kind %s", c.Key, ceremony.ErrRequired, policy.KindKeyPolicy)
		}
	}
	return nil
}
