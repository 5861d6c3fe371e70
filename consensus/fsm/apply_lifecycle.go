package fsm

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/dedup"
)

// lifecycleCommands change a key's versions: operators' changes, due
// destructions, and members' reports of destroyed and refreshed shares.
func lifecycleCommands() []commandSpec {
	return []commandSpec{
		spec[ChangeKey](ProtocolV1),
		spec[DestroyDue](ProtocolV1),
		spec[ShareDestroyed](ProtocolV1),
		spec[ShareRefreshed](ProtocolV1),
		spec[RefreshFailed](ProtocolV1),
	}
}

// The lifecycle commands: key versions, refresh and destruction.
const (
	TypeChangeKey      CommandType = "change_key"
	TypeDestroyDue     CommandType = "destroy_due"
	TypeShareDestroyed CommandType = "share_destroyed"
	TypeShareRefreshed CommandType = "share_refreshed"
	TypeRefreshFailed  CommandType = "refresh_failed"
)

// KeyOp names one lifecycle change of a key.
type KeyOp string

// Lifecycle changes carried by ChangeKey.
const (
	OpRotate        KeyOp = "rotate"         // generate version latest+1, staged
	OpPromote       KeyOp = "promote"        // make Version primary
	OpRollback      KeyOp = "rollback"       // make an older active version primary again
	OpRetire        KeyOp = "retire"         // Version verifies only
	OpRevoke        KeyOp = "revoke"         // Version neither signs nor verifies
	OpPolicy        KeyOp = "policy"         // floors and deletion_allowed
	OpDestroy       KeyOp = "destroy"        // schedule Version's destruction after Delay
	OpCancelDestroy KeyOp = "cancel_destroy" // unschedule it
	OpRefresh       KeyOp = "refresh"        // reshare Version to new shares
)

// ChangeKey is one operator change of a key's lifecycle. Fields other than
// RequestID, Op and Key matter only to the ops that name them.
type ChangeKey struct {
	RequestID string `json:"request_id"`
	Op        KeyOp  `json:"op"`
	Key       string `json:"key"`
	// Version is the version acted on; 0 picks the op's default (promote:
	// the newest staged; rollback: the newest active below the primary;
	// retire, revoke, refresh: the primary).
	Version uint32 `json:"version,omitempty"`
	// DualSign (promote) is how long the previous primary keeps signing
	// alongside the new one, in nanoseconds; 0 opens no window.
	DualSign int64 `json:"dual_sign,omitempty"`
	// Policy fields; nil leaves a setting unchanged.
	MinSignVersion   *uint32 `json:"min_sign_version,omitempty"`
	MinVerifyVersion *uint32 `json:"min_verify_version,omitempty"`
	DeletionAllowed  *bool   `json:"deletion_allowed,omitempty"`
	// Delay (destroy) is the pending period in nanoseconds.
	Delay int64 `json:"delay,omitempty"`
	// Committee (refresh) is the old holders that deal the new shares,
	// chosen by the leader.
	Committee []string `json:"committee,omitempty"`
	Actor     string   `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
}

// DestroyDue executes a destruction whose pending period has passed; the
// leader proposes it.
type DestroyDue struct {
	Key     string `json:"key"`
	Version uint32 `json:"version"`
	Time    int64  `json:"time"`
}

// ShareDestroyed reports that Node deleted its share of a destroyed version.
type ShareDestroyed struct {
	Key     string `json:"key"`
	Version uint32 `json:"version"`
	Node    string `json:"node"`
}

// ShareRefreshed reports that Node sealed its new share of a version at
// Epoch, with the unchanged PublicKey.
type ShareRefreshed struct {
	Key       string `json:"key"`
	Version   uint32 `json:"version"`
	Epoch     uint32 `json:"epoch"`
	Node      string `json:"node"`
	PublicKey []byte `json:"public_key"`
}

// RefreshFailed abandons a refresh; the old shares stay in use.
type RefreshFailed struct {
	Key     string `json:"key"`
	Version uint32 `json:"version"`
	Epoch   uint32 `json:"epoch"`
	Node    string `json:"node"`
	Reason  string `json:"reason"`
}

func (ChangeKey) Type() CommandType      { return TypeChangeKey }
func (DestroyDue) Type() CommandType     { return TypeDestroyDue }
func (ShareDestroyed) Type() CommandType { return TypeShareDestroyed }
func (ShareRefreshed) Type() CommandType { return TypeShareRefreshed }
func (RefreshFailed) Type() CommandType  { return TypeRefreshFailed }

func (c *ChangeKey) Stamp(t int64)     { c.Time = t }
func (c *DestroyDue) Stamp(t int64)    { c.Time = t }
func (c *ChangeKey) StampTime() int64  { return c.Time }
func (c *DestroyDue) StampTime() int64 { return c.Time }

func (c ShareDestroyed) Reporter() string { return c.Node }
func (c ShareRefreshed) Reporter() string { return c.Node }
func (c RefreshFailed) Reporter() string  { return c.Node }

// apply applies one lifecycle change. Every change is all or nothing:
// a refused change leaves the key as it was.
func (c *ChangeKey) apply(f *FSM, index uint64) Result {
	input := changeInput(c)
	if _, res, done := f.dedup(c.RequestID, string(TypeChangeKey), input); done {
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
	case OpRotate:
		version, err = k.Rotate(f.at(index), c.RequestID, c.Version, f.st.PreParams)
	case OpPromote:
		version, err = k.Promote(c.Version, c.DualSign, f.st.Time)
	case OpRollback:
		version, err = k.Rollback(c.Version)
	case OpRetire:
		var v *Version
		if v, err = k.Retire(c.Version); err == nil {
			version = v.Number
			f.endVersionWork(k, v)
		}
	case OpRevoke:
		var v *Version
		if v, err = k.Revoke(c.Version); err == nil {
			version, ended = v.Number, f.revoked(index, k, v)
		}
	case OpPolicy:
		err = k.SetFloors(c.Version, c.MinSignVersion, c.MinVerifyVersion, c.DeletionAllowed)
	case OpDestroy:
		version, err = k.ScheduleDestroy(c.Version, c.Delay, int64(f.cfg.MinDestroyDelay), f.st.Time)
	case OpCancelDestroy:
		version, err = k.CancelDestroy(c.Version)
	case OpRefresh:
		version, err = k.Refresh(f.at(index), c.RequestID, c.Version, c.Committee, f.st.PreParams)
	default:
		err = fmt.Errorf("%w: unknown op %q", ErrInvalidCommand, c.Op)
	}
	if err != nil {
		return Result{Err: fmt.Errorf("%s %q: %w", c.Op, c.Key, err)}
	}
	f.remember(index, &dedup.Request{ID: c.RequestID, Op: string(TypeChangeKey), Input: input, Key: k.Name, Version: version})
	return Result{Key: k.Clone(), Version: version, Ended: ended}
}

// changeInput hashes what the client chose; the leader's committee pick
// and stamps are not part of it.
func changeInput(c *ChangeKey) [32]byte {
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
func (f *FSM) revoked(index uint64, k *Key, v *Version) []string {
	f.endVersionWork(k, v)
	ended := f.st.Records.PendingOf(k.Name, v.Number)
	for _, id := range ended {
		s := f.st.Signs[id]
		s.Reason = fmt.Sprintf("%q v%d was revoked", k.Name, v.Number)
		f.finish(index, s, SignStateFailed)
	}
	return ended
}

// endVersionWork drops what a version that stopped signing leaves in the
// pools: its presignatures and FROST commitments.
func (f *FSM) endVersionWork(k *Key, v *Version) {
	f.dropPresigs(k.Name, v.Number)
	f.sweepFrost(k.Name)
}

// dropPresigs deletes the presignatures of a key version; members discard
// their parked halves when they see them gone.
func (f *FSM) dropPresigs(key string, version uint32) { f.st.Presigs.DropVersion(key, version) }

func (c *DestroyDue) apply(f *FSM, _ uint64) Result {
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

func (c *ShareDestroyed) apply(f *FSM, _ uint64) Result {
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

func (c *ShareRefreshed) apply(f *FSM, index uint64) Result {
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

func (c *RefreshFailed) apply(f *FSM, _ uint64) Result {
	k, v, err := f.refreshing(c.Key, c.Version, c.Epoch)
	if err != nil {
		return Result{Err: fmt.Errorf("refresh failure: %w", err)}
	}
	v.Refresh = nil
	return Result{Key: k.Clone(), Version: v.Number}
}

func (f *FSM) refreshing(key string, version, epoch uint32) (*Key, *Version, error) {
	k, ok := f.st.Keys[key]
	if !ok {
		return nil, nil, fmt.Errorf("%q: %w", key, ErrUnknownKey)
	}
	v, err := k.Refreshing(version, epoch)
	return k, v, err
}

func (c *ChangeKey) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Op, r.Actor, r.Key, r.RequestID, r.Version = "key_"+string(c.Op), c.Actor, c.Key, c.RequestID, max(res.Version, c.Version)
	return []audit.Record{r}
}

func (c *DestroyDue) records(_ *FSM, _ Result, r audit.Record) []audit.Record {
	r.Key, r.Version = c.Key, c.Version
	return []audit.Record{r}
}

func (c *ShareDestroyed) records(_ *FSM, _ Result, r audit.Record) []audit.Record {
	r.Actor, r.Key, r.Version = NodeActor(c.Node), c.Key, c.Version
	return []audit.Record{r}
}

func (c *ShareRefreshed) records(_ *FSM, _ Result, r audit.Record) []audit.Record {
	r.Actor, r.Key, r.Version = NodeActor(c.Node), c.Key, c.Version
	return []audit.Record{r}
}

func (c *RefreshFailed) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Actor, r.Key, r.Version = NodeActor(c.Node), c.Key, c.Version
	if res.Err == nil {
		r.Outcome, r.Reason = audit.OutcomeFailed, c.Reason
	}
	return []audit.Record{r}
}
