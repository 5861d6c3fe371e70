package keys

import (
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
)

// The lifecycle changes an operator makes (ChangeKey). Each names a
// version, or 0 for the change's default, and returns the version it acted
// on; each refuses without changing anything.

// Rotate starts generating version latest+1, which is staged once every
// member stored its share. ready is which members hold pre-parameters.
func (k *Key) Rotate(at At, requestID string, version uint32, ready map[string]bool) (uint32, error) {
	if version != 0 {
		return 0, fmt.Errorf("%w: rotate takes no version", fsmerr.ErrInvalidCommand)
	}
	if k.Latest().State == Generating {
		return 0, fmt.Errorf("%w: v%d is still generating", fsmerr.ErrBadTransition, k.Latest().Number)
	}
	if err := CheckPreParams(ready, k.Algorithm, k.Members); err != nil {
		return 0, err
	}
	v := &Version{Number: uint32(len(k.Versions)) + 1, State: Generating, CreatedIndex: at.Index, RequestID: requestID, Created: at.Time}
	k.Versions = append(k.Versions, v)
	return v.Number, nil
}

// Promote makes version (0: the newest staged) the primary. With dualSign
// (nanoseconds) the previous primary keeps signing alongside it until now
// plus dualSign.
func (k *Key) Promote(version uint32, dualSign, now int64) (uint32, error) {
	def := uint32(0)
	for _, v := range k.Versions {
		if v.State == Staged {
			def = v.Number
		}
	}
	v, err := k.pick(version, def)
	switch {
	case err != nil:
		return 0, err
	case v.Number == k.Primary:
		return 0, fmt.Errorf("%w: v%d is already primary", fsmerr.ErrBadTransition, v.Number)
	case v.State != Staged && v.State != Active:
		return 0, fmt.Errorf("%w: v%d is %s; only a staged or active version can be promoted", fsmerr.ErrBadTransition, v.Number, v.State)
	case v.Number < k.MinSignVersion:
		return 0, fmt.Errorf("%w: v%d is below min_sign_version %d", fsmerr.ErrBadTransition, v.Number, k.MinSignVersion)
	case dualSign < 0:
		return 0, fmt.Errorf("%w: negative dual-sign window", fsmerr.ErrInvalidCommand)
	}
	prev := k.Primary
	v.State, k.Primary, k.DualSign = Active, v.Number, nil
	if dualSign > 0 && prev != 0 && k.SignVersion(prev) == nil {
		k.DualSign = &DualSign{Version: prev, Until: now + dualSign}
	}
	return v.Number, nil
}

// Rollback makes an older active version (0: the newest below the
// primary) the primary again.
func (k *Key) Rollback(version uint32) (uint32, error) {
	def := uint32(0)
	for _, v := range k.Versions {
		if v.Number < k.Primary && v.State == Active {
			def = v.Number
		}
	}
	if version == 0 && def == 0 {
		return 0, fmt.Errorf("%w: no active version below the primary v%d", fsmerr.ErrBadTransition, k.Primary)
	}
	v, err := k.pick(version, def)
	switch {
	case err != nil:
		return 0, err
	case v.Number >= k.Primary:
		return 0, fmt.Errorf("%w: rollback goes to a version below the primary v%d", fsmerr.ErrBadTransition, k.Primary)
	case v.State != Active:
		return 0, fmt.Errorf("%w: v%d is %s; only an active version takes the primary back", fsmerr.ErrBadTransition, v.Number, v.State)
	case v.Number < k.MinSignVersion:
		return 0, fmt.Errorf("%w: v%d is below min_sign_version %d", fsmerr.ErrBadTransition, v.Number, k.MinSignVersion)
	}
	// The version rolled back from stays active, so it can be promoted
	// again; it no longer signs, not even in a dual-sign window.
	k.Primary, k.DualSign = v.Number, nil
	return v.Number, nil
}

// Retire makes version (0: the primary) verify only. What it leaves in
// other tables (presignatures, commitments) the caller drops.
func (k *Key) Retire(version uint32) (*Version, error) {
	v, err := k.pick(version, k.Primary)
	if err != nil {
		return nil, err
	}
	if !v.State.CanSign() {
		return nil, fmt.Errorf("%w: v%d is %s; only a staged or active version can be retired", fsmerr.ErrBadTransition, v.Number, v.State)
	}
	v.State = Retired
	k.stopSigning(v)
	return v, nil
}

// Revoke makes version (0: the primary) neither sign nor verify. The
// caller ends its pending signs and drops what it left in other tables.
func (k *Key) Revoke(version uint32) (*Version, error) {
	v, err := k.pick(version, k.Primary)
	if err != nil {
		return nil, err
	}
	if !v.State.CanVerify() || v.State == Destroyed {
		return nil, fmt.Errorf("%w: v%d is %s", fsmerr.ErrBadTransition, v.Number, v.State)
	}
	v.State = Revoked
	k.stopSigning(v)
	return v, nil
}

// stopSigning closes a dual-sign window that names v, which stopped
// signing.
func (k *Key) stopSigning(v *Version) {
	if k.DualSign != nil && k.DualSign.Version == v.Number {
		k.DualSign = nil
	}
}

// SetFloors changes the key's floors and deletion_allowed; nil leaves a
// setting as it is. Turning deletion off stops every destruction not yet
// executed.
func (k *Key) SetFloors(version uint32, minSignVersion, minVerifyVersion *uint32, deletionAllowed *bool) error {
	minSign, minVerify, del := k.MinSignVersion, k.MinVerifyVersion, k.DeletionAllowed
	if minSignVersion != nil {
		minSign = *minSignVersion
	}
	if minVerifyVersion != nil {
		minVerify = *minVerifyVersion
	}
	if deletionAllowed != nil {
		del = *deletionAllowed
	}
	latest := uint32(len(k.Versions))
	switch {
	case version != 0:
		return fmt.Errorf("%w: policy takes no version", fsmerr.ErrInvalidCommand)
	case minSign > latest || minVerify > latest:
		return fmt.Errorf("%w: floors must not exceed the newest version v%d", fsmerr.ErrInvalidCommand, latest)
	case minVerify > minSign:
		return fmt.Errorf("%w: min_verify_version %d above min_sign_version %d would sign what does not verify", fsmerr.ErrInvalidCommand, minVerify, minSign)
	case k.Primary != 0 && minSign > k.Primary:
		return fmt.Errorf("%w: min_sign_version %d is above the primary v%d; promote first", fsmerr.ErrBadTransition, minSign, k.Primary)
	}
	k.MinSignVersion, k.MinVerifyVersion, k.DeletionAllowed = minSign, minVerify, del
	if k.DualSign != nil && k.DualSign.Version < minSign {
		k.DualSign = nil
	}
	if !del {
		for _, v := range k.Versions {
			if v.Destroy != nil && !v.Destroy.Executed {
				v.Destroy = nil
			}
		}
	}
	return nil
}

// ScheduleDestroy schedules the destruction of a retired, revoked or
// failed version at now+delay; delay must be at least minDelay, the
// cluster's pending period, during which CancelDestroy takes it back.
func (k *Key) ScheduleDestroy(version uint32, delay, minDelay, now int64) (uint32, error) {
	v, err := k.pick(version, 0)
	switch {
	case err != nil:
		return 0, err
	case !k.DeletionAllowed:
		return 0, fmt.Errorf("%w: deletion_allowed is off for %q", fsmerr.ErrBadTransition, k.Name)
	case v.State != Retired && v.State != Revoked && v.State != Failed:
		return 0, fmt.Errorf("%w: v%d is %s; retire or revoke it first", fsmerr.ErrBadTransition, v.Number, v.State)
	case v.Destroy != nil:
		return 0, fmt.Errorf("%w: v%d is already scheduled for destruction", fsmerr.ErrBadTransition, v.Number)
	case v.Refresh != nil:
		return 0, fmt.Errorf("%w: v%d is being refreshed", fsmerr.ErrBadTransition, v.Number)
	case delay < minDelay:
		return 0, fmt.Errorf("%w: pending period %d ns is below the minimum %d ns", fsmerr.ErrInvalidCommand, delay, minDelay)
	}
	v.Destroy = &Destroy{At: now + delay}
	return v.Number, nil
}

// CancelDestroy takes back a destruction not yet executed.
func (k *Key) CancelDestroy(version uint32) (uint32, error) {
	v, err := k.pick(version, 0)
	switch {
	case err != nil:
		return 0, err
	case v.Destroy == nil:
		return 0, fmt.Errorf("%w: v%d is not scheduled for destruction", fsmerr.ErrBadTransition, v.Number)
	case v.Destroy.Executed:
		return 0, fmt.Errorf("%w: v%d is already destroyed", fsmerr.ErrBadTransition, v.Number)
	}
	v.Destroy = nil
	return v.Number, nil
}

// DestroyDue executes the scheduled destruction of version once its
// pending period is over at now.
func (k *Key) DestroyDue(version uint32, now int64) (*Version, error) {
	v := k.Version(version)
	switch {
	case v == nil || v.Destroy == nil || v.Destroy.Executed:
		return nil, fmt.Errorf("%q v%d: %w: nothing pending", k.Name, version, fsmerr.ErrStale)
	case now < v.Destroy.At:
		return nil, fmt.Errorf("%q v%d: %w: pending until %d", k.Name, version, fsmerr.ErrBadTransition, v.Destroy.At)
	}
	v.ExecuteDestroy()
	return v, nil
}

// DestroyDueBy reports whether v's scheduled destruction is due at now.
func (v *Version) DestroyDueBy(now int64) bool {
	return v.Destroy != nil && !v.Destroy.Executed && v.Destroy.At <= now
}

// ExecuteDestroy executes v's scheduled destruction.
func (v *Version) ExecuteDestroy() { v.State, v.Destroy.Executed = Destroyed, true }

// ShareDestroyed records that node deleted its share of the destroyed
// version; dup is true when it already had.
func (k *Key) ShareDestroyed(version uint32, node string) (*Version, bool, error) {
	v := k.Version(version)
	switch {
	case v == nil || v.Destroy == nil || !v.Destroy.Executed:
		return nil, false, fmt.Errorf("%q v%d: %w: not destroyed", k.Name, version, fsmerr.ErrStale)
	case !k.HasMember(node):
		return nil, false, fmt.Errorf("%q v%d by %s: %w: not a member", k.Name, version, node, fsmerr.ErrInvalidCommand)
	case slices.Contains(v.Destroy.Shredded, node):
		return v, true, nil
	}
	v.Destroy.Shredded = append(v.Destroy.Shredded, node)
	slices.Sort(v.Destroy.Shredded)
	return v, false, nil
}

// Emptied returns the versions of k a deletion of its tenant at now
// destroys: none unless force, and then those whose scheduled destruction
// is due. It refuses while a version holds material that is neither
// destroyed, failed nor (with force) due for destruction.
func (k *Key) Emptied(force bool, now int64) ([]*Version, error) {
	var due []*Version
	for _, v := range k.Versions {
		switch {
		case v.State == Destroyed || v.State == Failed:
		case force && v.DestroyDueBy(now):
			due = append(due, v)
		case force:
			return nil, fmt.Errorf("%w: %q v%d is %s and not past a scheduled destruction", fsmerr.ErrBadTransition, k.Name, v.Number, v.State)
		default:
			return nil, fmt.Errorf("%w: %q v%d is %s; destroy every version first (or --force once their destruction is due)", fsmerr.ErrBadTransition, k.Name, v.Number, v.State)
		}
	}
	return due, nil
}
