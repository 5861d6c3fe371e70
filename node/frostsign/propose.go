package frostsign

import (
	"context"
	"errors"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// Propose appends a sign request that names one published commitment
// per member of a committee the leader can reach, and returns the
// commitments the log accepted. ok is false when no committee has
// commitments, or the FSM refused the ones named (a member restarted, a
// refresh landed): the caller then asks for the request again without
// commitments, on the tss-lib path, so signing never waits for a pool.
// err is the append's and the entry's, as they came: the caller maps it
// to the status a client sees.
func (w *Work) Propose(ctx context.Context, k *fsm.Key, cmd *fsm.SignRequested) (ok, dup bool, used []fsm.FrostCommitment, err error) {
	version := cmd.Version
	if version == 0 {
		version = k.Primary
	}
	v := k.Version(version)
	if v == nil || k.SignVersion(version) != nil {
		return false, false, nil, nil
	}
	byNode := map[string][]string{}
	for _, cm := range w.state.FrostCommitments(k.Name, version, v.Epoch) {
		byNode[cm.Node] = append(byNode[cm.Node], cm.ID)
	}
	var ready []string
	for _, m := range w.m.Reachable() {
		if k.HasMember(m) && len(byNode[m]) > 0 {
			ready = append(ready, m)
		}
	}
	slices.Sort(ready)
	size := k.Threshold + 1
	// A member the blame rule excludes signs in no committee while others
	// can (as the committee picker does for the other paths).
	ready = w.m.Eligible(ready, size)
	if len(ready) < size {
		return false, false, nil, nil
	}
	committee := w.m.Committee(ready, size)
	ids := make([]string, 0, size)
	defer func() {
		for _, id := range ids {
			w.reserved.Release(id)
		}
	}()
	for _, m := range committee {
		reserved := false
		for _, id := range byNode[m] {
			if w.reserved.Reserve(id) {
				ids, reserved = append(ids, id), true
				break
			}
		}
		if !reserved {
			return false, false, nil, nil // all taken by requests in flight
		}
	}
	cmd.Committee, cmd.Frost = committee, slices.Clone(ids)
	res, err := w.m.Apply(ctx, cmd)
	if err == nil && errors.Is(res.Err, fsm.ErrFrostUnavailable) {
		w.log.Debug("FROST commitments refused; signing with tss-lib", "request", cmd.RequestID, "err", res.Err)
		cmd.Frost = nil
		return false, false, nil, nil
	}
	if err == nil && res.Err == nil && !res.Duplicate && res.Sign != nil {
		used = res.Sign.Frost
	}
	return true, res.Duplicate, used, errors.Join(err, res.Err)
}
