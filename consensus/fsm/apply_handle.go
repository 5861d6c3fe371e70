package fsm

import (
	"crypto/subtle"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/api/handle"
	"github.com/keyquorum/keyquorum/consensus/audit"
)

// handleCommands issue and revoke signing handles.
func handleCommands() []commandSpec {
	return []commandSpec{
		spec[IssueHandle](ProtocolV1),
		spec[RevokeHandle](ProtocolV1),
	}
}

// The handle commands.
const (
	TypeIssueHandle  CommandType = "issue_handle"
	TypeRevokeHandle CommandType = "revoke_handle"
)

// IssueHandle grants a capability to sign with Key for Purpose until
// Time+TTL. The log holds only the token's SHA-256: the token itself is
// returned once, to the caller, and never stored.
type IssueHandle struct {
	RequestID string   `json:"request_id"`
	HandleID  string   `json:"handle_id"`
	TokenHash [32]byte `json:"token_hash"`
	Key       string   `json:"key"`
	Purpose   string   `json:"purpose"`
	TTL       int64    `json:"ttl"`      // nanoseconds
	MaxUses   uint32   `json:"max_uses"` // 0: unlimited until expiry
	Actor     string   `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
}

// RevokeHandle ends a handle before its expiry.
type RevokeHandle struct {
	RequestID string `json:"request_id"`
	HandleID  string `json:"handle_id"`
	Actor     string `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
}

func (IssueHandle) Type() CommandType  { return TypeIssueHandle }
func (RevokeHandle) Type() CommandType { return TypeRevokeHandle }

func (c *IssueHandle) Stamp(t int64)     { c.Time = t }
func (c *RevokeHandle) Stamp(t int64)    { c.Time = t }
func (c *IssueHandle) StampTime() int64  { return c.Time }
func (c *RevokeHandle) StampTime() int64 { return c.Time }

// Handle is the replicated record of a capability to sign with one key for
// one purpose until Expires. It holds the SHA-256 of the token, never the
// token: a copy of the log or a snapshot grants nothing.
type Handle struct {
	ID        string   `json:"id"`
	TokenHash [32]byte `json:"token_hash"`
	Key       string   `json:"key"`
	Purpose   string   `json:"purpose"`
	Expires   int64    `json:"expires"`
	MaxUses   uint32   `json:"max_uses,omitempty"`
	Uses      uint32   `json:"uses"`
	Revoked   bool     `json:"revoked,omitempty"`
	Actor     string   `json:"actor"`
	// ActorSerial is the issuer's certificate serial: a handle dies with
	// its issuer's certificate too.
	ActorSerial string `json:"actor_serial,omitempty"`
	Issued      int64  `json:"issued"`
}

func (h *Handle) clone() *Handle { c := *h; return &c }

// HandleTokenHash is what the log carries in place of a handle's token.
func HandleTokenHash(token []byte) [32]byte { return handle.Proof(string(token)) }

func (c *IssueHandle) apply(f *FSM, index uint64) Result {
	if r, res, done := f.dedup(c.RequestID, string(TypeIssueHandle), issueInput(c)); done {
		if res.Err == nil {
			res.Handle = f.st.Handles[r.Handle].cloneOrNil()
		}
		return res
	}
	k, ok := f.st.Keys[c.Key]
	switch {
	case c.RequestID == "" || c.HandleID == "":
		return Result{Err: fmt.Errorf("issue handle: %w: request id and handle id are required", ErrInvalidCommand)}
	case !ok:
		return Result{Err: fmt.Errorf("issue handle for %q: %w", c.Key, ErrUnknownKey)}
	case !slices.Contains(k.Purposes, c.Purpose):
		return Result{Err: fmt.Errorf("issue handle for %q: %w: purpose %q is not one of %v", c.Key, ErrInvalidCommand, c.Purpose, k.Purposes)}
	case c.TTL <= 0 || c.TTL > f.limits().MaxHandleTTL:
		return Result{Err: fmt.Errorf("issue handle for %q: %w: ttl must be in (0, %d ns]", c.Key, ErrInvalidCommand, f.limits().MaxHandleTTL)}
	case f.st.Handles[c.HandleID] != nil:
		return Result{Err: fmt.Errorf("issue handle: %w: id %s is taken", ErrHandleExists, c.HandleID)}
	}
	if len(f.st.Handles) >= f.cfg.MaxHandles {
		f.expireHandles()
		if len(f.st.Handles) >= f.cfg.MaxHandles {
			return Result{Err: fmt.Errorf("issue handle for %q: %w", c.Key, ErrTooManyHandles)}
		}
	}
	h := &Handle{ID: c.HandleID, TokenHash: c.TokenHash, Key: c.Key, Purpose: c.Purpose, Expires: f.st.Time + c.TTL,
		MaxUses: c.MaxUses, Actor: c.Actor, ActorSerial: c.ActorSerial, Issued: f.st.Time}
	f.st.Handles[h.ID] = h
	f.remember(index, &Request{ID: c.RequestID, Op: string(TypeIssueHandle), Input: issueInput(c), Key: c.Key, Handle: h.ID})
	return Result{Handle: h.clone()}
}

func (c *RevokeHandle) apply(f *FSM, index uint64) Result {
	input := hashInput(c.HandleID)
	if _, res, done := f.dedup(c.RequestID, string(TypeRevokeHandle), input); done {
		res.Handle = f.st.Handles[c.HandleID].cloneOrNil()
		return res
	}
	h, ok := f.st.Handles[c.HandleID]
	if !ok || c.RequestID == "" {
		return Result{Err: fmt.Errorf("revoke handle %s: %w: unknown or expired", c.HandleID, ErrHandleDenied)}
	}
	h.Revoked = true
	f.remember(index, &Request{ID: c.RequestID, Op: string(TypeRevokeHandle), Input: input, Key: h.Key, Handle: h.ID})
	return Result{Handle: h.clone()}
}

// checkHandle reports why the handle does not grant c at the replicated
// time, or nil. Every denial names its reason; an unknown handle and a
// wrong token read alike, so a guess learns nothing.
func (f *FSM) checkHandle(c *SignRequested) (*Handle, error) {
	h, ok := f.st.Handles[c.Handle]
	if !ok || subtle.ConstantTimeCompare(h.TokenHash[:], c.HandleProof[:]) != 1 {
		return nil, fmt.Errorf("%w: handle not recognised", ErrHandleDenied)
	}
	switch {
	case h.Revoked:
		return nil, fmt.Errorf("%w: handle %s is revoked", ErrHandleDenied, h.ID)
	case f.st.Time >= h.Expires:
		return nil, fmt.Errorf("%w: handle %s expired", ErrHandleDenied, h.ID)
	case h.MaxUses > 0 && h.Uses >= h.MaxUses:
		return nil, fmt.Errorf("%w: handle %s is used up (%d uses)", ErrHandleDenied, h.ID, h.MaxUses)
	case c.Key != "" && c.Key != h.Key:
		return nil, fmt.Errorf("%w: handle %s is for key %q, not %q", ErrHandleDenied, h.ID, h.Key, c.Key)
	case c.Purpose != "" && c.Purpose != h.Purpose:
		return nil, fmt.Errorf("%w: handle %s is for purpose %q, not %q", ErrHandleDenied, h.ID, h.Purpose, c.Purpose)
	}
	return h, nil
}

// expireHandles forgets handles past their expiry; until then a revoked
// handle stays, so its use is denied as revoked rather than unknown.
func (f *FSM) expireHandles() {
	for id, h := range f.st.Handles {
		if f.st.Time >= h.Expires {
			delete(f.st.Handles, id)
		}
	}
}

func (h *Handle) cloneOrNil() *Handle {
	if h == nil {
		return nil
	}
	return h.clone()
}

func issueInput(c *IssueHandle) [32]byte {
	return hashInput(c.Key, c.Purpose, fmt.Sprint(c.TTL), fmt.Sprint(c.MaxUses))
}

// Handle returns a copy of the handle with this id.
func (f *FSM) Handle(id string) (*Handle, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	h, ok := f.st.Handles[id]
	if !ok {
		return nil, false
	}
	return h.clone(), true
}

func (c *IssueHandle) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	// The handle's id and token stay out: the chain is evidence, not a
	// place to find capabilities.
	r.Actor, r.Key, r.RequestID = c.Actor, c.Key, c.RequestID
	r.Reason = "purpose " + c.Purpose
	if res.Err != nil {
		_, r.Reason = outcomeOf(res)
	}
	return []audit.Record{r}
}

func (c *RevokeHandle) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Actor, r.RequestID = c.Actor, c.RequestID
	if res.Handle != nil {
		r.Key = res.Handle.Key
	}
	return []audit.Record{r}
}
