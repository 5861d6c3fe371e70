package checker

import (
	"math"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/keyquorum/keyquorum/jepsen/model"
)

// authzHistory is what the authz check needs to know about a whole
// history: when each principal's revocation was asked and first
// acknowledged, and which handles were asked to be issued for which keys.
type authzHistory struct {
	auth model.Authority
	// revokeCall is the first call of a principal's revocation, revokedAt
	// the return of its first acknowledgement (MaxInt64 while none).
	revokeCall, revokedAt map[string]int64
	issues                map[string][]porcupine.Operation // handle id -> the issue operations naming it
}

func newAuthzHistory(history []porcupine.Operation, auth model.Authority) authzHistory {
	h := authzHistory{auth: auth, revokeCall: map[string]int64{}, revokedAt: map[string]int64{}, issues: map[string][]porcupine.Operation{}}
	for _, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		switch in.Kind {
		case model.RevokePrincipal:
			if c, ok := h.revokeCall[in.Target]; !ok || op.Call < c {
				h.revokeCall[in.Target] = op.Call
			}
			if _, ok := h.revokedAt[in.Target]; !ok {
				h.revokedAt[in.Target] = math.MaxInt64
			}
			if out.Status == model.OK {
				h.revokedAt[in.Target] = min(h.revokedAt[in.Target], op.Return)
			}
		case model.IssueHandle:
			if in.Handle != "" {
				h.issues[in.Handle] = append(h.issues[in.Handle], op)
			}
		}
	}
	return h
}

// revoked reports whether op was called after its principal's revocation
// was acknowledged: from then on every replica must refuse it.
func (h authzHistory) revoked(op porcupine.Operation) bool {
	at, ok := h.revokedAt[op.Input.(model.Input).Principal]
	return ok && op.Call > at
}

// beforeRevocation reports whether op ended before anyone asked to revoke
// its principal, so the deny-list cannot concern it.
func (h authzHistory) beforeRevocation(op porcupine.Operation) bool {
	c, ok := h.revokeCall[op.Input.(model.Input).Principal]
	return !ok || op.Return < c
}

// issuedFor reports whether a handle may have been issued for key before
// a sign returned: an issue naming it for key, by a principal the policy
// lets issue, not refused for certain, called before the sign returned.
// With acked set, only an acknowledged issue that returned before the
// sign was called counts: the handle certainly existed.
func (h authzHistory) issuedFor(handle, key string, sign porcupine.Operation, acked bool) bool {
	for _, op := range h.issues[handle] {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		if in.Key != key || !h.auth.Allows(in) || h.revoked(op) {
			continue
		}
		if acked && out.Status == model.OK && op.Return < sign.Call {
			return true
		}
		if !acked && (out.Status == model.OK || out.Status == model.Unknown) && op.Call < sign.Return {
			return true
		}
	}
	return false
}

// certain reports whether the policy certainly allowed op, wherever the
// cluster ordered it: its principal holds the role on the key's tenant,
// its handle (for a sign) was issued for the key before it was called,
// and it ended before its principal's revocation was asked.
func (h authzHistory) certain(op porcupine.Operation) bool {
	in := op.Input.(model.Input)
	if !h.auth.Allows(in) || !h.beforeRevocation(op) {
		return false
	}
	return in.Kind != model.Sign || h.issuedFor(in.Handle, in.Key, op, true)
}

// Authorized returns the part of a history the key model judges: every
// operation that names no principal, and those of principals that the
// policy certainly allowed. Refused requests are the authz check's to
// judge, as are requests whose verdict depends on when the cluster
// ordered them against a revocation or a handle's issue. A List by a
// principal shows only its tenants' keys, which the key model, knowing no
// tenants, would take for lost keys; the authz check judges it. In a
// history without principals this is the history.
func Authorized(history []porcupine.Operation, auth model.Authority) []porcupine.Operation {
	h := newAuthzHistory(history, auth)
	var out []porcupine.Operation
	for _, op := range history {
		in := op.Input.(model.Input)
		if in.Kind == model.RevokePrincipal {
			continue
		}
		if in.Principal == "" || in.Kind != model.List && h.certain(op) {
			out = append(out, op)
		}
	}
	return out
}

// WithoutRevoked returns the history without the operations of revoked
// principals: their acknowledged signatures cannot be asked for again
// after the revocation, so the durable check leaves them out (the
// signature checks still verify them).
func WithoutRevoked(history []porcupine.Operation) []porcupine.Operation {
	revoked := map[string]bool{}
	for _, op := range history {
		if in := op.Input.(model.Input); in.Kind == model.RevokePrincipal {
			revoked[in.Target] = true
		}
	}
	return slices.DeleteFunc(slices.Clone(history), func(op porcupine.Operation) bool {
		in := op.Input.(model.Input)
		return in.Kind == model.RevokePrincipal || revoked[in.Principal]
	})
}

// Authz checks the authz workload's history against the policy it
// applied: every acknowledged operation of a principal was one the policy
// grants it (role and tenant), every signature came with a handle issued
// for its key by a principal allowed to issue it, nothing a principal
// asked after its revocation was acknowledged succeeded (revocation is
// linearizable: every replica refuses from the entry's index on, forwarded
// calls included), a principal with no role on a tenant never learns its
// keys exist (a refusal reads NOT_FOUND, a list leaves them out). A
// refusal of a request the policy certainly allowed is the key model's
// to catch: Authorized keeps those requests.
func Authz(history []porcupine.Operation, auth model.Authority) Check {
	c := Check{Name: "authz", Verdict: Valid}
	h := newAuthzHistory(history, auth)
	var signed, refused, afterRevoke int
	for _, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		if in.Principal == "" || in.Kind == model.RevokePrincipal {
			continue
		}
		c.Checked++
		if h.revoked(op) {
			afterRevoke++
		}
		switch out.Status {
		case model.OK:
		case model.Denied, model.NotFound:
			refused++
			if in.Kind != model.List && auth.Hidden(in) && out.Status == model.Denied && h.beforeRevocation(op) && in.Handle == "" {
				c.fail(Invalid, "%s: refused PERMISSION_DENIED on a tenant where %s has no role: the key's existence leaks (want NOT_FOUND) [%s]",
					in, in.Principal, op.Metadata)
			}
			continue
		default:
			continue
		}
		switch {
		case h.revoked(op) && in.Kind == model.List:
			// A denied principal's list is answered, empty: it sees no key.
			if len(out.Keys) > 0 {
				c.fail(Invalid, "%s: listed %d keys although %s's revocation was acknowledged %s before it was called [%s]",
					in, len(out.Keys), in.Principal, since(op.Call-h.revokedAt[in.Principal]), op.Metadata)
			}
		case h.revoked(op):
			c.fail(Invalid, "%s: succeeded although %s's revocation was acknowledged %s before it was called [%s]",
				in, in.Principal, since(op.Call-h.revokedAt[in.Principal]), op.Metadata)
		case !auth.Allows(in):
			c.fail(Invalid, "%s: succeeded, but %s holds no role that grants it on tenant %s [%s]", in, in.Principal, model.TenantOf(in.Key), op.Metadata)
		case in.Kind == model.Sign && !h.issuedFor(in.Handle, in.Key, op, false):
			c.fail(Invalid, "%s: signed with handle %s, which no allowed issue made for %s [%s]", in, in.Handle, in.Key, op.Metadata)
		case in.Kind == model.List:
			for _, k := range out.Keys {
				if !auth.Visible(in.Principal, model.TenantOf(k.Name)) {
					c.fail(Invalid, "%s: listed %s, of a tenant where %s has no role [%s]", in, k.Name, in.Principal, op.Metadata)
				}
			}
		}
		if out.Signature != "" {
			signed++
		}
	}
	c.note("%d signatures by principals judged", signed)
	c.note("%d requests refused (PERMISSION_DENIED or NOT_FOUND)", refused)
	for p, at := range h.revokedAt {
		if at == math.MaxInt64 {
			c.note("the revocation of %s was never acknowledged", p)
			continue
		}
		c.note("%d requests asked after %s's revocation was acknowledged", afterRevoke, p)
	}
	return c
}

func since(ns int64) string { return time.Duration(ns).Round(time.Millisecond).String() }
