package fsm

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/keyquorum/keyquorum/consensus/audit"
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
		version, err = f.rotate(index, k, c)
	case OpPromote:
		version, err = f.promote(k, c)
	case OpRollback:
		version, err = f.rollback(k, c)
	case OpRetire:
		version, err = f.retire(k, c)
	case OpRevoke:
		version, ended, err = f.revoke(index, k, c)
	case OpPolicy:
		err = f.setPolicy(k, c)
	case OpDestroy:
		version, err = f.scheduleDestroy(k, c)
	case OpCancelDestroy:
		version, err = f.cancelDestroy(k, c)
	case OpRefresh:
		version, err = f.refresh(index, k, c)
	default:
		err = fmt.Errorf("%w: unknown op %q", ErrInvalidCommand, c.Op)
	}
	if err != nil {
		return Result{Err: fmt.Errorf("%s %q: %w", c.Op, c.Key, err)}
	}
	f.remember(index, &Request{ID: c.RequestID, Op: string(TypeChangeKey), Input: input, Key: k.Name, Version: version})
	return Result{Key: k.clone(), Version: version, Ended: ended}
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
	return hashInput(string(c.Op), c.Key, strconv.FormatUint(uint64(c.Version), 10), strconv.FormatInt(c.DualSign, 10),
		opt(c.MinSignVersion), opt(c.MinVerifyVersion), del, strconv.FormatInt(c.Delay, 10))
}

// pick returns the version c names, or def when it names none.
func pick(k *Key, n, def uint32) (*Version, error) {
	if n == 0 {
		n = def
	}
	v := k.Version(n)
	if v == nil {
		return nil, fmt.Errorf("%w: %q has no version %d", ErrUnknownVersion, k.Name, n)
	}
	return v, nil
}

func (f *FSM) rotate(index uint64, k *Key, c *ChangeKey) (uint32, error) {
	if c.Version != 0 {
		return 0, fmt.Errorf("%w: rotate takes no version", ErrInvalidCommand)
	}
	if k.Latest().State == KeyGenerating {
		return 0, fmt.Errorf("%w: v%d is still generating", ErrBadTransition, k.Latest().Number)
	}
	if err := f.checkPreParams(k.Algorithm, k.Members); err != nil {
		return 0, err
	}
	v := &Version{Number: uint32(len(k.Versions)) + 1, State: KeyGenerating, CreatedIndex: index, RequestID: c.RequestID, Created: f.st.Time}
	k.Versions = append(k.Versions, v)
	return v.Number, nil
}

func (f *FSM) promote(k *Key, c *ChangeKey) (uint32, error) {
	def := uint32(0)
	for _, v := range k.Versions {
		if v.State == KeyStaged {
			def = v.Number
		}
	}
	v, err := pick(k, c.Version, def)
	switch {
	case err != nil:
		return 0, err
	case v.Number == k.Primary:
		return 0, fmt.Errorf("%w: v%d is already primary", ErrBadTransition, v.Number)
	case v.State != KeyStaged && v.State != KeyActive:
		return 0, fmt.Errorf("%w: v%d is %s; only a staged or active version can be promoted", ErrBadTransition, v.Number, v.State)
	case v.Number < k.MinSignVersion:
		return 0, fmt.Errorf("%w: v%d is below min_sign_version %d", ErrBadTransition, v.Number, k.MinSignVersion)
	case c.DualSign < 0:
		return 0, fmt.Errorf("%w: negative dual-sign window", ErrInvalidCommand)
	}
	prev := k.Primary
	v.State, k.Primary, k.DualSign = KeyActive, v.Number, nil
	if c.DualSign > 0 && prev != 0 && k.SignVersion(prev) == nil {
		k.DualSign = &DualSign{Version: prev, Until: f.st.Time + c.DualSign}
	}
	return v.Number, nil
}

func (f *FSM) rollback(k *Key, c *ChangeKey) (uint32, error) {
	def := uint32(0)
	for _, v := range k.Versions {
		if v.Number < k.Primary && v.State == KeyActive {
			def = v.Number
		}
	}
	if c.Version == 0 && def == 0 {
		return 0, fmt.Errorf("%w: no active version below the primary v%d", ErrBadTransition, k.Primary)
	}
	v, err := pick(k, c.Version, def)
	switch {
	case err != nil:
		return 0, err
	case v.Number >= k.Primary:
		return 0, fmt.Errorf("%w: rollback goes to a version below the primary v%d", ErrBadTransition, k.Primary)
	case v.State != KeyActive:
		return 0, fmt.Errorf("%w: v%d is %s; only an active version takes the primary back", ErrBadTransition, v.Number, v.State)
	case v.Number < k.MinSignVersion:
		return 0, fmt.Errorf("%w: v%d is below min_sign_version %d", ErrBadTransition, v.Number, k.MinSignVersion)
	}
	// The version rolled back from stays active, so it can be promoted
	// again; it no longer signs, not even in a dual-sign window.
	k.Primary, k.DualSign = v.Number, nil
	return v.Number, nil
}

func (f *FSM) retire(k *Key, c *ChangeKey) (uint32, error) {
	v, err := pick(k, c.Version, k.Primary)
	if err != nil {
		return 0, err
	}
	if !v.State.CanSign() {
		return 0, fmt.Errorf("%w: v%d is %s; only a staged or active version can be retired", ErrBadTransition, v.Number, v.State)
	}
	v.State = KeyRetired
	f.endVersionWork(k, v)
	return v.Number, nil
}

func (f *FSM) revoke(index uint64, k *Key, c *ChangeKey) (uint32, []string, error) {
	v, err := pick(k, c.Version, k.Primary)
	if err != nil {
		return 0, nil, err
	}
	if !v.State.CanVerify() || v.State == KeyDestroyed {
		return 0, nil, fmt.Errorf("%w: v%d is %s", ErrBadTransition, v.Number, v.State)
	}
	v.State = KeyRevoked
	f.endVersionWork(k, v)
	// Signing requests of the version end here, in log order: no
	// signature by it is recorded after this entry, whatever its
	// committee still sends.
	ended := f.pendingOf(k.Name, v.Number)
	for _, id := range ended {
		s := f.st.Signs[id]
		s.Reason = fmt.Sprintf("%q v%d was revoked", k.Name, v.Number)
		f.finish(index, s, SignStateFailed)
	}
	return v.Number, ended, nil
}

// endVersionWork drops what a version that stops signing leaves behind:
// its presignatures and a dual-sign window that names it.
func (f *FSM) endVersionWork(k *Key, v *Version) {
	f.dropPresigs(k.Name, v.Number)
	defer f.sweepFrost(k.Name)
	if k.DualSign != nil && k.DualSign.Version == v.Number {
		k.DualSign = nil
	}
}

// dropPresigs deletes the presignatures of a key version; members discard
// their parked halves when they see them gone.
func (f *FSM) dropPresigs(key string, version uint32) {
	for id, p := range f.st.Presigs {
		if p.Key == key && p.Version == version {
			delete(f.st.Presigs, id)
		}
	}
}

// pendingOf returns the pending requests of a key version, sorted, so every
// replica ends them in the same order.
func (f *FSM) pendingOf(key string, version uint32) []string {
	var out []string
	for id := range f.st.pending {
		if s := f.st.Signs[id]; s.Key == key && s.Version == version {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func (f *FSM) setPolicy(k *Key, c *ChangeKey) error {
	minSign, minVerify, del := k.MinSignVersion, k.MinVerifyVersion, k.DeletionAllowed
	if c.MinSignVersion != nil {
		minSign = *c.MinSignVersion
	}
	if c.MinVerifyVersion != nil {
		minVerify = *c.MinVerifyVersion
	}
	if c.DeletionAllowed != nil {
		del = *c.DeletionAllowed
	}
	latest := uint32(len(k.Versions))
	switch {
	case c.Version != 0:
		return fmt.Errorf("%w: policy takes no version", ErrInvalidCommand)
	case minSign > latest || minVerify > latest:
		return fmt.Errorf("%w: floors must not exceed the newest version v%d", ErrInvalidCommand, latest)
	case minVerify > minSign:
		return fmt.Errorf("%w: min_verify_version %d above min_sign_version %d would sign what does not verify", ErrInvalidCommand, minVerify, minSign)
	case k.Primary != 0 && minSign > k.Primary:
		return fmt.Errorf("%w: min_sign_version %d is above the primary v%d; promote first", ErrBadTransition, minSign, k.Primary)
	}
	k.MinSignVersion, k.MinVerifyVersion, k.DeletionAllowed = minSign, minVerify, del
	if k.DualSign != nil && k.DualSign.Version < minSign {
		k.DualSign = nil
	}
	if !del {
		// Turning deletion off stops every destruction not yet executed.
		for _, v := range k.Versions {
			if v.Destroy != nil && !v.Destroy.Executed {
				v.Destroy = nil
			}
		}
	}
	return nil
}

func (f *FSM) scheduleDestroy(k *Key, c *ChangeKey) (uint32, error) {
	v, err := pick(k, c.Version, 0)
	switch {
	case err != nil:
		return 0, err
	case !k.DeletionAllowed:
		return 0, fmt.Errorf("%w: deletion_allowed is off for %q", ErrBadTransition, k.Name)
	case v.State != KeyRetired && v.State != KeyRevoked && v.State != KeyFailed:
		return 0, fmt.Errorf("%w: v%d is %s; retire or revoke it first", ErrBadTransition, v.Number, v.State)
	case v.Destroy != nil:
		return 0, fmt.Errorf("%w: v%d is already scheduled for destruction", ErrBadTransition, v.Number)
	case v.Refresh != nil:
		return 0, fmt.Errorf("%w: v%d is being refreshed", ErrBadTransition, v.Number)
	case c.Delay < int64(f.cfg.MinDestroyDelay):
		return 0, fmt.Errorf("%w: pending period %d ns is below the minimum %d ns", ErrInvalidCommand, c.Delay, f.cfg.MinDestroyDelay)
	}
	v.Destroy = &Destroy{At: f.st.Time + c.Delay}
	return v.Number, nil
}

func (f *FSM) cancelDestroy(k *Key, c *ChangeKey) (uint32, error) {
	v, err := pick(k, c.Version, 0)
	switch {
	case err != nil:
		return 0, err
	case v.Destroy == nil:
		return 0, fmt.Errorf("%w: v%d is not scheduled for destruction", ErrBadTransition, v.Number)
	case v.Destroy.Executed:
		return 0, fmt.Errorf("%w: v%d is already destroyed", ErrBadTransition, v.Number)
	}
	v.Destroy = nil
	return v.Number, nil
}

func (c *DestroyDue) apply(f *FSM, _ uint64) Result {
	k, ok := f.st.Keys[c.Key]
	if !ok {
		return Result{Err: fmt.Errorf("destroy %q: %w", c.Key, ErrUnknownKey)}
	}
	v := k.Version(c.Version)
	switch {
	case v == nil || v.Destroy == nil || v.Destroy.Executed:
		return Result{Err: fmt.Errorf("destroy %q v%d: %w: nothing pending", c.Key, c.Version, ErrStale)}
	case f.st.Time < v.Destroy.At:
		return Result{Err: fmt.Errorf("destroy %q v%d: %w: pending until %d", c.Key, c.Version, ErrBadTransition, v.Destroy.At)}
	}
	v.State, v.Destroy.Executed = KeyDestroyed, true
	f.sweepFrost(k.Name)
	return Result{Key: k.clone(), Version: v.Number}
}

func (c *ShareDestroyed) apply(f *FSM, _ uint64) Result {
	k, ok := f.st.Keys[c.Key]
	if !ok {
		return Result{Err: fmt.Errorf("share destroyed %q: %w", c.Key, ErrUnknownKey)}
	}
	v := k.Version(c.Version)
	switch {
	case v == nil || v.Destroy == nil || !v.Destroy.Executed:
		return Result{Err: fmt.Errorf("share destroyed %q v%d: %w: not destroyed", c.Key, c.Version, ErrStale)}
	case !k.HasMember(c.Node):
		return Result{Err: fmt.Errorf("share destroyed %q v%d by %s: %w: not a member", c.Key, c.Version, c.Node, ErrInvalidCommand)}
	case slices.Contains(v.Destroy.Shredded, c.Node):
		return Result{Key: k.clone(), Version: v.Number, Duplicate: true}
	}
	v.Destroy.Shredded = append(v.Destroy.Shredded, c.Node)
	slices.Sort(v.Destroy.Shredded)
	return Result{Key: k.clone(), Version: v.Number}
}

func (f *FSM) refresh(index uint64, k *Key, c *ChangeKey) (uint32, error) {
	v, err := pick(k, c.Version, k.Primary)
	switch {
	case err != nil:
		return 0, err
	case !v.State.CanSign():
		return 0, fmt.Errorf("%w: v%d is %s; only a staged or active version is refreshed", ErrBadTransition, v.Number, v.State)
	case v.Refresh != nil:
		return 0, fmt.Errorf("%w: v%d is already being refreshed", ErrBadTransition, v.Number)
	}
	if err := CheckCommittee(k, c.Committee); err != nil {
		return 0, err
	}
	if err := f.checkPreParams(k.Algorithm, k.Members); err != nil {
		return 0, err
	}
	v.Refresh = &Refresh{Epoch: v.Epoch + 1, Index: index, Started: f.st.Time, RequestID: c.RequestID, Committee: slices.Clone(c.Committee)}
	return v.Number, nil
}

func (c *ShareRefreshed) apply(f *FSM, index uint64) Result {
	k, v, err := f.refreshing(c.Key, c.Version, c.Epoch)
	if err != nil {
		return Result{Err: fmt.Errorf("refreshed share: %w", err)}
	}
	parties := v.Refresh.Parties(k)
	switch {
	case !slices.Contains(parties, c.Node):
		return Result{Err: fmt.Errorf("refreshed share of %q from %s: %w: not a new holder", c.Key, c.Node, ErrInvalidCommand)}
	case string(c.PublicKey) != string(v.PublicKey):
		v.Refresh = nil
		return Result{Key: k.clone(), Version: v.Number, Err: fmt.Errorf("refreshed share of %q v%d from %s: %w: public key changed; refresh abandoned", c.Key, c.Version, c.Node, ErrBadSignature)}
	case slices.Contains(v.Refresh.Confirmed, c.Node):
		return Result{Key: k.clone(), Version: v.Number, Duplicate: true}
	}
	v.Refresh.Confirmed = append(v.Refresh.Confirmed, c.Node)
	slices.Sort(v.Refresh.Confirmed)
	if len(v.Refresh.Confirmed) == len(parties) {
		// Every new holder sealed a new share: switch, and drop what the
		// old shares left (presignatures are bound to them).
		f.switchHolders(index, k, v.Refresh)
		v.Epoch, v.Refresh = v.Refresh.Epoch, nil
		f.dropPresigs(k.Name, v.Number)
		f.sweepFrost(k.Name)
	}
	return Result{Key: k.clone(), Version: v.Number}
}

func (c *RefreshFailed) apply(f *FSM, _ uint64) Result {
	k, v, err := f.refreshing(c.Key, c.Version, c.Epoch)
	if err != nil {
		return Result{Err: fmt.Errorf("refresh failure: %w", err)}
	}
	v.Refresh = nil
	return Result{Key: k.clone(), Version: v.Number}
}

func (f *FSM) refreshing(key string, version, epoch uint32) (*Key, *Version, error) {
	k, ok := f.st.Keys[key]
	if !ok {
		return nil, nil, fmt.Errorf("%q: %w", key, ErrUnknownKey)
	}
	v := k.Version(version)
	if v == nil || v.Refresh == nil || v.Refresh.Epoch != epoch {
		return nil, nil, fmt.Errorf("%q v%d epoch %d: %w: no such refresh running", key, version, epoch, ErrStale)
	}
	return k, v, nil
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
