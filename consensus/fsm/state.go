package fsm

import (
	"errors"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/blame"
	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
	"github.com/keyquorum/keyquorum/consensus/fsm/settings"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// KeyState is the lifecycle state of a key version.
type KeyState string

// Key version states. A version moves generating -> staged (a rotation) or
// active (the first version) -> retired -> revoked -> destroyed, skipping
// states as operators choose; failed ends a generation that did not finish.
// Only active and staged versions sign; retired and destroyed versions
// still verify (a shredded share does not make old signatures false);
// revoked versions do neither.
const (
	KeyGenerating KeyState = "generating"
	KeyStaged     KeyState = "staged"
	KeyActive     KeyState = "active"
	KeyRetired    KeyState = "retired"
	KeyRevoked    KeyState = "revoked"
	KeyDestroyed  KeyState = "destroyed"
	KeyFailed     KeyState = "failed"
)

// CanSign reports whether a version in this state may sign.
func (s KeyState) CanSign() bool { return s == KeyActive || s == KeyStaged }

// CanVerify reports whether signatures by a version in this state verify.
func (s KeyState) CanVerify() bool { return s.CanSign() || s == KeyRetired || s == KeyDestroyed }

// SignState is the state of one signing request.
type SignState string

// Signing request states.
const (
	SignStatePending   SignState = "pending"
	SignStateCompleted SignState = "completed"
	SignStateFailed    SignState = "failed"
)

// Key is the replicated record of one key and all its versions. It holds
// public facts only; each member keeps its shares sealed on its own disk.
type Key struct {
	Name      string   `json:"name"`
	Algorithm string   `json:"algorithm"`
	Threshold int      `json:"threshold"`
	Members   []string `json:"members"`
	// Purposes are the labels handles of this key may carry.
	Purposes []string `json:"purposes"`
	// Versions are every version ever created, oldest first; a destroyed
	// version stays as a tombstone so its number is never reused.
	Versions []*Version `json:"versions"`
	// Primary is the version Sign uses; 0 until the first version is active.
	Primary uint32 `json:"primary"`
	// MinSignVersion and MinVerifyVersion are floors: no version below
	// them signs or verifies, whatever its state.
	MinSignVersion   uint32 `json:"min_sign_version"`
	MinVerifyVersion uint32 `json:"min_verify_version"`
	// DeletionAllowed must be set before any version can be destroyed.
	DeletionAllowed bool `json:"deletion_allowed"`
	// DualSign, while the replicated time is before Until, makes Sign
	// return a second signature by Version alongside the primary's.
	DualSign        *DualSign `json:"dual_sign,omitempty"`
	CreatedIndex    uint64    `json:"created_index"`
	CreatedTime     int64     `json:"created_time"`
	CreateRequestID string    `json:"create_request_id"`
	// Former are the nodes that held shares of the key before a reshare
	// moved its holders, until each reports it shredded every share file
	// (SharesShredded); a reshare alone already made those shares useless.
	Former []*FormerHolder `json:"former,omitempty"`
}

// FormerHolder is a node a reshare left out of a key's holders.
type FormerHolder struct {
	Node string `json:"node"`
	// Index is the entry whose switch to the new shares left it out.
	Index uint64 `json:"index"`
	// Shredded is set once the node reported that its share files of the
	// key are gone.
	Shredded bool `json:"shredded,omitempty"`
}

// DualSign is an open dual-sign window.
type DualSign struct {
	Version uint32 `json:"version"`
	Until   int64  `json:"until"`
}

// Version is one generation of a key: its own DKG, public key and shares.
type Version struct {
	Number    uint32   `json:"number"`
	State     KeyState `json:"state"`
	PublicKey []byte   `json:"public_key,omitempty"`
	// Epoch counts share refreshes: the shares on disk are of this epoch.
	Epoch     uint32   `json:"epoch"`
	Confirmed []string `json:"confirmed,omitempty"` // members that stored a share, sorted
	Failure   string   `json:"failure,omitempty"`
	// CreatedIndex and RequestID are the entry that started the version's
	// key generation; they derive its session id.
	CreatedIndex uint64 `json:"created_index"`
	RequestID    string `json:"request_id"`
	// Created is the replicated time the generation started; the leader
	// fails a generation that outlives its deadline from here, so a
	// change of leader does not restart the clock.
	Created int64 `json:"created"`
	// Refresh is a share refresh in progress.
	Refresh *Refresh `json:"refresh,omitempty"`
	// Destroy is set once destruction was requested.
	Destroy *Destroy `json:"destroy,omitempty"`
}

// Refresh is a resharing of a version to new shares of the same key.
type Refresh struct {
	Epoch     uint32   `json:"epoch"`   // the new shares' epoch
	Index     uint64   `json:"index"`   // entry that started it, for the session id
	Started   int64    `json:"started"` // replicated time it started
	RequestID string   `json:"request_id"`
	Committee []string `json:"committee"` // old holders that deal
	Confirmed []string `json:"confirmed,omitempty"`
	// Members and Threshold are the new holders and threshold when a
	// reshare changes them (ReshareKey); empty and 0 keep the key's.
	Members   []string `json:"members,omitempty"`
	Threshold int      `json:"threshold,omitempty"`
}

// Parties returns the holders of the refresh's new shares.
func (r *Refresh) Parties(k *Key) []string {
	if len(r.Members) > 0 {
		return r.Members
	}
	return k.Members
}

// NewThreshold returns the threshold of the refresh's new shares.
func (r *Refresh) NewThreshold(k *Key) int {
	if r.Threshold > 0 {
		return r.Threshold
	}
	return k.Threshold
}

// Destroy tracks a version's destruction: pending until At (a cancel
// removes it), then executed, then confirmed by each member as it shreds
// its share.
type Destroy struct {
	At       int64    `json:"at"` // replicated time when it may execute
	Executed bool     `json:"executed"`
	Shredded []string `json:"shredded,omitempty"` // members that deleted their share, sorted
}

func (k *Key) clone() *Key {
	c := *k
	c.Members = slices.Clone(k.Members)
	c.Purposes = slices.Clone(k.Purposes)
	c.Versions = make([]*Version, len(k.Versions))
	for i, v := range k.Versions {
		c.Versions[i] = v.clone()
	}
	if k.DualSign != nil {
		d := *k.DualSign
		c.DualSign = &d
	}
	if k.Former != nil {
		c.Former = make([]*FormerHolder, len(k.Former))
		for i, f := range k.Former {
			ff := *f
			c.Former[i] = &ff
		}
	}
	return &c
}

func (v *Version) clone() *Version {
	c := *v
	c.PublicKey = slices.Clone(v.PublicKey)
	c.Confirmed = slices.Clone(v.Confirmed)
	if v.Refresh != nil {
		r := *v.Refresh
		r.Committee, r.Confirmed, r.Members = slices.Clone(r.Committee), slices.Clone(r.Confirmed), slices.Clone(r.Members)
		c.Refresh = &r
	}
	if v.Destroy != nil {
		d := *v.Destroy
		d.Shredded = slices.Clone(d.Shredded)
		c.Destroy = &d
	}
	return &c
}

// HasMember reports whether node holds a share of the key.
func (k *Key) HasMember(node string) bool { return slices.Contains(k.Members, node) }

// live reports whether a version of the key is neither destroyed nor
// failed: the key still holds material its tenant owns.
func (k *Key) live() bool {
	return slices.ContainsFunc(k.Versions, func(v *Version) bool { return v.State != KeyDestroyed && v.State != KeyFailed })
}

// Version returns version n, or nil.
func (k *Key) Version(n uint32) *Version {
	if n == 0 || int(n) > len(k.Versions) {
		return nil
	}
	return k.Versions[n-1]
}

// Latest returns the newest version.
func (k *Key) Latest() *Version { return k.Versions[len(k.Versions)-1] }

// Current returns the primary version, or the first version while it is
// still generating or failed.
func (k *Key) Current() *Version {
	if v := k.Version(k.Primary); v != nil {
		return v
	}
	return k.Versions[0]
}

// State summarises the key as its current version's state.
func (k *Key) State() KeyState { return k.Current().State }

// PublicKey returns the current version's public key.
func (k *Key) PublicKey() []byte { return k.Current().PublicKey }

// SignVersion reports why version n may not sign now, or nil.
func (k *Key) SignVersion(n uint32) error {
	v := k.Version(n)
	switch {
	case v == nil:
		return fmt.Errorf("%w: %q has no version %d", ErrUnknownVersion, k.Name, n)
	case v.State == KeyRevoked:
		return fmt.Errorf("%w: %q v%d is revoked", ErrVersionUnusable, k.Name, n)
	case !v.State.CanSign():
		return fmt.Errorf("%w: %q v%d is %s", ErrVersionUnusable, k.Name, n, v.State)
	case n < k.MinSignVersion:
		return fmt.Errorf("%w: %q v%d is below min_sign_version %d", ErrVersionUnusable, k.Name, n, k.MinSignVersion)
	}
	return nil
}

// VerifyVersion reports why signatures by version n do not verify, or nil.
func (k *Key) VerifyVersion(n uint32) error {
	v := k.Version(n)
	switch {
	case v == nil:
		return fmt.Errorf("%w: %q has no version %d", ErrUnknownVersion, k.Name, n)
	case !v.State.CanVerify():
		return fmt.Errorf("%w: %q v%d is %s", ErrVersionUnusable, k.Name, n, v.State)
	case n < k.MinVerifyVersion:
		return fmt.Errorf("%w: %q v%d is below min_verify_version %d", ErrVersionUnusable, k.Name, n, k.MinVerifyVersion)
	}
	return nil
}

// Sign is the replicated record of one signing request, keyed by request id.
// While pending it holds the digest, which the committee needs; once done it
// keeps only the digest's hash, enough to recognise a duplicate request.
type Sign struct {
	RequestID  string    `json:"request_id"`
	Key        string    `json:"key"`
	Version    uint32    `json:"version"`
	DigestHash [32]byte  `json:"digest_hash"`
	Digest     []byte    `json:"digest,omitempty"`
	State      SignState `json:"state"`
	Attempt    uint32    `json:"attempt"`
	Committee  []string  `json:"committee"`
	// SessionIndex is the log index of the entry that started the current
	// attempt; with the request id and attempt it derives the session id.
	SessionIndex uint64 `json:"session_index"`
	Signature    []byte `json:"signature,omitempty"`
	Signer       string `json:"signer,omitempty"` // member whose report was recorded
	Reason       string `json:"reason,omitempty"`
	Index        uint64 `json:"index"` // log index of the entry that ended the request
	Actor        string `json:"actor"`
	Time         int64  `json:"time"`
	// Ended is the replicated time the request ended; the de-duplication
	// age counts from it, so a retry that comes soon after a long request
	// still finds its outcome. Records from before it was kept have 0.
	Ended  int64  `json:"ended,omitempty"`
	Presig string `json:"presig,omitempty"` // presignature the current attempt consumes
	// Frost is the FROST commitments the current attempt consumed, one per
	// committee member in committee order; empty on the tss-lib path.
	Frost []FrostCommitment `json:"frost,omitempty"`
	// Epoch is the share epoch the current attempt signs with.
	Epoch uint32 `json:"epoch"`
	// HandleProof is the SHA-256 of the handle's token the request was made
	// with; a retry must present the same.
	HandleProof [32]byte `json:"handle_proof"`
	// Dual names the companion request that signs the same input with the
	// dual-sign version; Parent names the request a companion belongs to.
	Dual   string `json:"dual,omitempty"`
	Parent string `json:"parent,omitempty"`
}

func (s *Sign) clone() *Sign {
	c := *s
	c.Digest = slices.Clone(s.Digest)
	c.Committee = slices.Clone(s.Committee)
	c.Signature = slices.Clone(s.Signature)
	c.Frost = slices.Clone(s.Frost)
	for i := range c.Frost {
		c.Frost[i] = *s.Frost[i].clone()
	}
	return &c
}

// state is everything the FSM replicates; a snapshot is this value as JSON.
type state struct {
	Keys      map[string]*Key  `json:"keys"`
	Signs     map[string]*Sign `json:"signs"`
	SignOrder []string         `json:"sign_order"` // finished request ids, oldest first, for eviction
	// pending indexes the pending requests of Signs, so that a revocation
	// and the supervisor never scan the whole table (up to MaxSignRecords).
	// It is derived from Signs: not in snapshots, rebuilt on restore.
	pending   map[string]bool
	PreParams map[string]bool    `json:"preparams"`
	Presigs   map[string]*Presig `json:"presigs"`
	Boots     map[string]string  `json:"boots"` // node -> its current process life
	// BootIndex is the log index of each node's last NodeBooted: a signing
	// attempt started before it lost that member's session.
	BootIndex map[string]uint64 `json:"boot_index,omitempty"`
	// Frost holds the published, unused FROST commitments by id.
	Frost   map[string]*FrostCommitment `json:"frost,omitempty"`
	Handles map[string]*Handle          `json:"handles"`
	// Requests de-duplicates lifecycle requests by request id; RequestOrder
	// lists them oldest first for eviction by count and age.
	Requests     map[string]*Request `json:"requests"`
	RequestOrder []string            `json:"request_order"`
	// Time is the largest command time applied; the FSM never moves it back,
	// so a leader with a slow clock cannot rewind replicated time.
	Time int64 `json:"time"`
	// Audit is the audit chain's head and recent records; nil while audit
	// is off (see FSM.EnableAudit).
	Audit *auditState `json:"audit,omitempty"`
	// Protocol is the cluster's active protocol version (0 before the
	// first RaiseProtocol: ProtocolV1); Supports holds, by member, the
	// newest version each reported at its last start.
	Protocol uint32            `json:"protocol,omitempty"`
	Supports map[string]uint32 `json:"supports,omitempty"`
	// Limits are the replicated limits, nil until the first SetLimits;
	// Settings holds each member's last reported settings.
	Limits   *settings.Limits `json:"limits,omitempty"`
	Settings settings.Reports `json:"settings,omitempty"`
	// Blame holds, by member, the accusations against it (package blame).
	Blame blame.Ledger `json:"blame,omitempty"`
	// Policy is the cluster policy in force, nil under the bootstrap
	// policy (apply_policy.go).
	Policy *PolicyState `json:"policy,omitempty"`
	// Members is the replicated membership, nil while it is the bootstrap
	// set of cluster.yaml (membership.go).
	Members map[string]*Member `json:"members,omitempty"`
	// Ceremonies holds the kept ceremonies by id; Frozen the freeze in
	// force (ceremony.go).
	Ceremonies map[string]*Ceremony `json:"ceremonies,omitempty"`
	Frozen     *Frozen              `json:"frozen,omitempty"`
	// TenantGens holds each tenant's generation (the deletions it went
	// through) and TenantDeletions its last deletion (apply_tenant.go).
	TenantGens      map[string]uint32          `json:"tenant_gens,omitempty"`
	TenantDeletions map[string]*TenantDeletion `json:"tenant_deletions,omitempty"`
}

// protocol returns the active protocol version.
func (st *state) protocol() uint32 { return max(st.Protocol, ProtocolV1) }

func newState() *state {
	return &state{Keys: map[string]*Key{}, Signs: map[string]*Sign{}, PreParams: map[string]bool{},
		Presigs: map[string]*Presig{}, Boots: map[string]string{}, Frost: map[string]*FrostCommitment{}, Supports: map[string]uint32{}, BootIndex: map[string]uint64{},
		Settings: settings.Reports{}, Blame: blame.Ledger{}, Handles: map[string]*Handle{}, Requests: map[string]*Request{}, pending: map[string]bool{}}
}

// UnmarshalJSON decodes a snapshot's state and refuses one that applying a
// later entry would panic on: a null table or entry, or a key whose
// versions are missing or out of order. A snapshot comes from the leader;
// a corrupt one must fail Restore, not crash the replicas that install it.
func (st *state) UnmarshalJSON(data []byte) error {
	type plain state // state's fields without this method
	// A field this build does not know is refused, not dropped: a snapshot
	// from a newer protocol must stop this replica, not be half-restored.
	if err := strictJSON(data, (*plain)(st)); err != nil {
		return err
	}
	if st.Protocol > MaxProtocol {
		return fmt.Errorf("snapshot of a cluster at protocol %d, this build supports up to %d: %w", st.Protocol, MaxProtocol, ErrUnsupportedProtocol)
	}
	if st.Supports == nil {
		st.Supports = map[string]uint32{}
	}
	if st.Settings == nil {
		st.Settings = settings.Reports{}
	}
	if st.Blame == nil {
		st.Blame = blame.Ledger{}
	}
	if err := st.Blame.Check(); err != nil {
		return err
	}
	if st.BootIndex == nil {
		st.BootIndex = map[string]uint64{}
	}
	if st.Keys == nil || st.Signs == nil || st.PreParams == nil || st.Presigs == nil || st.Boots == nil ||
		st.Handles == nil || st.Requests == nil {
		return errors.New("a table is null")
	}
	for name, k := range st.Keys {
		if k == nil || len(k.Versions) == 0 {
			return fmt.Errorf("key %q has no versions", name)
		}
		for i, v := range k.Versions {
			if v == nil || v.Number != uint32(i+1) {
				return fmt.Errorf("key %q: version %d is missing", name, i+1)
			}
		}
		for _, fh := range k.Former {
			if fh == nil {
				return fmt.Errorf("key %q: a former holder is null", name)
			}
		}
	}
	for id, s := range st.Signs {
		switch {
		case s == nil:
			return fmt.Errorf("signing request %q is null", id)
		case s.State == SignStatePending && (st.Keys[s.Key] == nil || st.Keys[s.Key].Version(s.Version) == nil):
			return fmt.Errorf("pending signing request %q names no key version", id)
		}
	}
	for id, p := range st.Presigs {
		if p == nil || st.Keys[p.Key] == nil || st.Keys[p.Key].Version(p.Version) == nil {
			return fmt.Errorf("presignature %q names no key version", id)
		}
	}
	if st.Frost == nil {
		st.Frost = map[string]*FrostCommitment{} // a snapshot from before FROST
	}
	for id, cm := range st.Frost {
		if cm == nil || st.Keys[cm.Key] == nil || st.Keys[cm.Key].Version(cm.Version) == nil {
			return fmt.Errorf("FROST commitment %q names no key version", id)
		}
	}
	for id, m := range st.Members {
		if m == nil || m.ID != id {
			return fmt.Errorf("member %q is null or misnamed", id)
		}
	}
	for id, h := range st.Handles {
		if h == nil {
			return fmt.Errorf("handle %q is null", id)
		}
	}
	for id, r := range st.Requests {
		if r == nil {
			return fmt.Errorf("request %q is null", id)
		}
	}
	for id, c := range st.Ceremonies {
		if c == nil {
			return fmt.Errorf("ceremony %q is null", id)
		}
	}
	for t, d := range st.TenantDeletions {
		if d == nil {
			return fmt.Errorf("deletion of tenant %q is null", t)
		}
	}
	if ps := st.Policy; ps != nil && (ps.Policy == nil || ps.Policy.Normalize() != nil) {
		return errors.New("the policy is null or invalid")
	}
	return nil
}

// indexPending rebuilds the pending index from Signs.
func (st *state) indexPending() {
	st.pending = map[string]bool{}
	for id, s := range st.Signs {
		if s.State == SignStatePending {
			st.pending[id] = true
		}
	}
}

// Errors returned as the result of applying a command. They are part of the
// replicated outcome: every replica returns the same one for the same entry.
var (
	// ErrUnknownCommand is returned for a log entry of an unknown type.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrKeyExists is returned when a key name is taken by another request.
	ErrKeyExists = errors.New("key already exists")
	// ErrUnknownKey is returned when no key has the given name.
	ErrUnknownKey = fsmerr.ErrUnknownKey
	// ErrKeyNotActive is returned when a key is still generating or failed.
	ErrKeyNotActive = errors.New("key is not active")
	// ErrRequestConflict is returned when a request id is reused with other input.
	ErrRequestConflict = errors.New("request id already used with different input")
	// ErrInvalidCommand is returned for a command whose fields break an invariant.
	ErrInvalidCommand = fsmerr.ErrInvalidCommand
	// ErrPreParamsNotReady is returned when an ECDSA key is requested before
	// every member holds pre-parameters.
	ErrPreParamsNotReady = errors.New("pre-parameters not ready")
	// ErrTooManyPending is returned when the pending signing table is full.
	ErrTooManyPending = policy.ErrTooManyPending
	// ErrTooManyKeys is returned when the key table is full.
	ErrTooManyKeys = policy.ErrTooManyKeys
	// ErrStale is returned for a report about an attempt or version that has moved on.
	ErrStale = fsmerr.ErrStale
	// ErrPresigUnavailable is returned when a sign request names a
	// presignature that is unknown, used, not ready, expired, or of another
	// key, version or committee.
	ErrPresigUnavailable = errors.New("presignature unavailable")
	// ErrTooManyPresigs is returned when a key's presignature pool is full.
	ErrTooManyPresigs = policy.ErrTooManyPresigs
	// ErrBadSignature is returned when a reported signature does not verify.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrUnknownVersion is returned when a key has no such version.
	ErrUnknownVersion = errors.New("unknown key version")
	// ErrVersionUnusable is returned when a version's state or a floor
	// forbids the operation.
	ErrVersionUnusable = errors.New("key version unusable")
	// ErrBadTransition is returned for a lifecycle change the version's
	// state or the key's policy does not allow.
	ErrBadTransition = fsmerr.ErrBadTransition
	// ErrHandleDenied is returned when a handle does not grant the request:
	// unknown, expired, revoked, used up, or for another key or purpose.
	ErrHandleDenied = errors.New("handle denied")
	// ErrHandleExists is returned when a handle id is taken by another
	// request; clients that make their own tokens choose the id.
	ErrHandleExists = errors.New("handle id already exists")
	// ErrTooManyHandles is returned when the handle table is full.
	ErrTooManyHandles = policy.ErrTooManyHandles
)
