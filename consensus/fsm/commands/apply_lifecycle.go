package commands

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/dedup"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/fsm/signs"
)

// lifecycleCommands change a key's versions: operators' changes, due
// destructions, and members' reports of destroyed and refreshed shares.
func lifecycleCommands() []commandSpec {
	return []commandSpec{
		spec(protover.V1, applyChangeKey, recordsChangeKey),
		spec(protover.V1, applyDestroyDue, recordsDestroyDue),
		spec(protover.V1, applyShareDestroyed, recordsShareDestroyed),
		spec(protover.V1, applyShareRefreshed, recordsShareRefreshed),
		spec(protover.V1, applyRefreshFailed, recordsRefreshFailed),
	}
}

// applyChangeKey applies one lifecycle change. Every change is all or
// nothing: a refused change leaves the key as it was.
func applyChangeKey(f *Machine, c *entry.ChangeKey, index uint64) Result {
	input := changeInput(c)
	if _, res, done := f.dedup(c.RequestID, string(entry.TypeChangeKey), input); done {
		return res
	}
	if c.RequestID == "" {
		return Result{Err: fmt.Errorf("%s %q: %w: request id is required", c.Op, c.Key, ErrInvalidCommand)}
	}
	k, ok := f.st.Keys[c.Key]
	if !ok {
		return Result{Err: fmt.Errorf("%s %q: %w", c.Op, c.Key, ErrUnknownKey)}
	}
	var (
		version uint32
		ended   []string
		err     error
	)
	switch c.Op {
	case entry.OpRotate:
		version, err = k.Rotate(f.at(index), c.RequestID, c.Version, f.st.PreParams)
	case entry.OpPromote:
		version, err = k.Promote(c.Version, c.DualSign, f.st.Time)
	case entry.OpRollback:
		version, err = k.Rollback(c.Version)
	case entry.OpRetire:
		var v *keys.Version
		if v, err = k.Retire(c.Version); err == nil {
			version = v.Number
			f.endVersionWork(k, v)
		}
	case entry.OpRevoke:
		var v *keys.Version
		if v, err = k.Revoke(c.Version); err == nil {
			version, ended = v.Number, f.revoked(index, k, v)
		}
	case entry.OpPolicy:
		err = k.SetFloors(c.Version, c.MinSignVersion, c.MinVerifyVersion, c.DeletionAllowed)
	case entry.OpDestroy:
		version, err = k.ScheduleDestroy(c.Version, c.Delay, int64(f.cfg.MinDestroyDelay), f.st.Time)
	case entry.OpCancelDestroy:
		version, err = k.CancelDestroy(c.Version)
	case entry.OpRefresh:
		version, err = k.Refresh(f.at(index), c.RequestID, c.Version, c.Committee, f.st.PreParams)
	default:
		err = fmt.Errorf("%w: unknown op %q", ErrInvalidCommand, c.Op)
	}
	if err != nil {
		return Result{Err: fmt.Errorf("%s %q: %w", c.Op, c.Key, err)}
	}
	f.remember(index, &dedup.Request{ID: c.RequestID, Op: string(entry.TypeChangeKey), Input: input, Key: k.Name, Version: version})
	return Result{Key: k.Clone(), Version: version, Ended: ended}
}

// changeInput hashes what the client chose; the leader's committee pick
// and stamps are not part of it.
func changeInput(c *entry.ChangeKey) [32]byte {
	opt := func(p *uint32) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatUint(uint64(*p), 10)
	}
	del := "-"
	if c.DeletionAllowed != nil {
		del = strconv.FormatBool(*c.DeletionAllowed)
	}
	return dedup.HashInput(string(c.Op), c.Key, strconv.FormatUint(uint64(c.Version), 10), strconv.FormatInt(c.DualSign, 10),
		opt(c.MinSignVersion), opt(c.MinVerifyVersion), del, strconv.FormatInt(c.Delay, 10))
}

// revoked ends the pending signing requests of v, just revoked, in log
// order: no signature by it is recorded after this entry, whatever its
// committee still sends. It returns their ids.
func (f *Machine) revoked(index uint64, k *keys.Key, v *keys.Version) []string {
	f.endVersionWork(k, v)
	ended := f.st.Records.PendingOf(k.Name, v.Number)
	for _, id := range ended {
		s := f.st.Signs[id]
		s.Reason = fmt.Sprintf("%q v%d was revoked", k.Name, v.Number)
		f.finish(index, s, signs.Failed)
	}
	return ended
}

// endVersionWork drops what a version that stopped signing leaves in the
// pools: its presignatures and FROST commitments.
func (f *Machine) endVersionWork(k *keys.Key, v *keys.Version) {
	f.dropPresigs(k.Name, v.Number)
	f.sweepFrost(k.Name)
}

// dropPresigs deletes the presignatures of a key version; members discard
// their parked halves when they see them gone.
func (f *Machine) dropPresigs(key string, version uint32) { f.st.Presigs.DropVersion(key, version) }

func applyDestroyDue(f *Machine, c *entry.DestroyDue, _ uint64) Result {
	k, ok := f.st.Keys[c.Key]
	if !ok {
		return Result{Err: fmt.Errorf("destroy %q: %w", c.Key, ErrUnknownKey)}
	}
	v, err := k.DestroyDue(c.Version, f.st.Time)
	if err != nil {
		return Result{Err: fmt.Errorf("destroy %w", err)}
	}
	f.sweepFrost(k.Name)
	return Result{Key: k.Clone(), Version: v.Number}
}

func applyShareDestroyed(f *Machine, c *entry.ShareDestroyed, _ uint64) Result {
	k, ok := f.st.Keys[c.Key]
	if !ok {
		return Result{Err: fmt.Errorf("share destroyed %q: %w", c.Key, ErrUnknownKey)}
	}
	v, dup, err := k.ShareDestroyed(c.Version, c.Node)
	if err != nil {
		return Result{Err: fmt.Errorf("share destroyed %w", err)}
	}
	return Result{Key: k.Clone(), Version: v.Number, Duplicate: dup}
}

func applyShareRefreshed(f *Machine, c *entry.ShareRefreshed, index uint64) Result {
	k, v, err := f.refreshing(c.Key, c.Version, c.Epoch)
	if err != nil {
		return Result{Err: fmt.Errorf("refreshed share: %w", err)}
	}
	switched, dup, err := k.ConfirmRefresh(index, v, c.Node, c.PublicKey)
	switch {
	case errors.Is(err, ErrBadSignature):
		return Result{Key: k.Clone(), Version: v.Number, Err: err}
	case err != nil:
		return Result{Err: err}
	case switched:
		// Presignatures and commitments are bound to the old shares.
		f.dropPresigs(k.Name, v.Number)
		f.sweepFrost(k.Name)
	}
	return Result{Key: k.Clone(), Version: v.Number, Duplicate: dup}
}

func applyRefreshFailed(f *Machine, c *entry.RefreshFailed, _ uint64) Result {
	k, v, err := f.refreshing(c.Key, c.Version, c.Epoch)
	if err != nil {
		return Result{Err: fmt.Errorf("refresh failure: %w", err)}
	}
	v.Refresh = nil
	return Result{Key: k.Clone(), Version: v.Number}
}

func (f *Machine) refreshing(key string, version, epoch uint32) (*keys.Key, *keys.Version, error) {
	k, ok := f.st.Keys[key]
	if !ok {
		return nil, nil, fmt.Errorf("%q: %w", key, ErrUnknownKey)
	}
	v, err := k.Refreshing(version, epoch)
	return k, v, err
}

func recordsChangeKey(_ *Machine, c *entry.ChangeKey, res Result, r audit.Record) []audit.Record {
	r.Op, r.Actor, r.Key, r.RequestID, r.Version = "key_"+string(c.Op), c.Actor, c.Key, c.RequestID, max(res.Version, c.Version)
	return []audit.Record{r}
}

func recordsDestroyDue(_ *Machine, c *entry.DestroyDue, _ Result, r audit.Record) []audit.Record {
	r.Key, r.Version = c.Key, c.Version
	return []audit.Record{r}
}

func recordsShareDestroyed(_ *Machine, c *entry.ShareDestroyed, _ Result, r audit.Record) []audit.Record {
	r.Key, r.Version = c.Key, c.Version
	return []audit.Record{r}
}

func recordsShareRefreshed(_ *Machine, c *entry.ShareRefreshed, _ Result, r audit.Record) []audit.Record {
	r.Key, r.Version = c.Key, c.Version
	return []audit.Record{r}
}

func recordsRefreshFailed(_ *Machine, c *entry.RefreshFailed, res Result, r audit.Record) []audit.Record {
	r.Key, r.Version = c.Key, c.Version
	if res.Err == nil {
		r.Outcome, r.Reason = audit.OutcomeFailed, c.Reason
	}
	return []audit.Record{r}
}
