package commands

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/dedup"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/handles"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
)

// handleCommands issue and revoke signing handles.
func handleCommands() []commandSpec {
	return []commandSpec{
		spec(protover.V1, applyIssueHandle, recordsIssueHandle),
		spec(protover.V1, applyRevokeHandle, recordsRevokeHandle),
	}
}

func applyIssueHandle(f *Machine, c *entry.IssueHandle, index uint64) Result {
	if r, res, done := f.dedup(c.RequestID, string(entry.TypeIssueHandle), issueInput(c)); done {
		if res.Err == nil {
			res.Handle = f.st.Handles[r.Handle].Clone()
		}
		return res
	}
	k, ok := f.st.Keys[c.Key]
	switch {
	case c.RequestID == "" || c.HandleID == "":
		return Result{Err: fmt.Errorf("issue handle: %w: request id and handle id are required", ErrInvalidCommand)}
	case !ok:
		return Result{Err: fmt.Errorf("issue handle for %q: %w", c.Key, ErrUnknownKey)}
	}
	h := &handles.Handle{ID: c.HandleID, TokenHash: c.TokenHash, Key: c.Key, Purpose: c.Purpose,
		MaxUses: c.MaxUses, Actor: c.Actor, ActorSerial: c.ActorSerial, Issued: f.st.Time}
	if err := f.st.Handles.Issue(h, k.Purposes, c.TTL, handles.Bounds{Max: f.cfg.MaxHandles, MaxTTL: f.limits().MaxHandleTTL}); err != nil {
		return Result{Err: err}
	}
	f.remember(index, &dedup.Request{ID: c.RequestID, Op: string(entry.TypeIssueHandle), Input: issueInput(c), Key: c.Key, Handle: h.ID})
	return Result{Handle: h.Clone()}
}

func applyRevokeHandle(f *Machine, c *entry.RevokeHandle, index uint64) Result {
	input := dedup.HashInput(c.HandleID)
	if _, res, done := f.dedup(c.RequestID, string(entry.TypeRevokeHandle), input); done {
		res.Handle = f.st.Handles[c.HandleID].Clone()
		return res
	}
	if c.RequestID == "" {
		return Result{Err: fmt.Errorf("revoke handle %s: %w: unknown or expired", c.HandleID, ErrHandleDenied)}
	}
	h, err := f.st.Handles.Revoke(c.HandleID)
	if err != nil {
		return Result{Err: err}
	}
	f.remember(index, &dedup.Request{ID: c.RequestID, Op: string(entry.TypeRevokeHandle), Input: input, Key: h.Key, Handle: h.ID})
	return Result{Handle: h.Clone()}
}

func issueInput(c *entry.IssueHandle) [32]byte {
	return dedup.HashInput(c.Key, c.Purpose, fmt.Sprint(c.TTL), fmt.Sprint(c.MaxUses))
}

func recordsIssueHandle(_ *Machine, c *entry.IssueHandle, res Result, r audit.Record) []audit.Record {
	// The handle's id and token stay out: the chain is evidence, not a
	// place to find capabilities.
	r.Actor, r.Key, r.RequestID = c.Actor, c.Key, c.RequestID
	r.Reason = "purpose " + c.Purpose
	if res.Err != nil {
		_, r.Reason = outcomeOf(res)
	}
	return []audit.Record{r}
}

func recordsRevokeHandle(_ *Machine, c *entry.RevokeHandle, res Result, r audit.Record) []audit.Record {
	r.Actor, r.RequestID = c.Actor, c.RequestID
	if res.Handle != nil {
		r.Key = res.Handle.Key
	}
	return []audit.Record{r}
}
