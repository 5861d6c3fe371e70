package fsm

import (
	"fmt"
	"slices"
	"time"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/consensus/fsm/authz"
	"github.com/keyquorum/keyquorum/consensus/fsm/blame"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/freeze"
	"github.com/keyquorum/keyquorum/consensus/fsm/inforce"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/fsm/settings"
	"github.com/keyquorum/keyquorum/consensus/fsm/state"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// The read API: each call takes the read lock and reads the machine's
// state between entries. Anything that shares its rules with the entries
// is answered by the machine (commands.Machine); the rest reads one table.

// state is the replicated state, for reads under f.mu.
func (f *FSM) state() *state.State { return f.m.State() }

// Key returns a copy of the named key.
func (f *FSM) Key(name string) (*Key, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	k, ok := f.state().Keys[name]
	if !ok {
		return nil, false
	}
	return k.Clone(), true
}

// Keys returns copies of all keys, sorted by name.
func (f *FSM) Keys() []*Key {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Keys.Clones()
}

// Sign returns a copy of the signing request with this id.
func (f *FSM) Sign(requestID string) (*Sign, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	s, ok := f.state().Signs[requestID]
	if !ok {
		return nil, false
	}
	return s.Clone(), true
}

// PendingSigns returns copies of all pending signing requests, by request id.
func (f *FSM) PendingSigns() []*Sign {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]*Sign, 0, f.state().Records.PendingCount())
	for _, id := range f.state().Records.PendingIDs() {
		out = append(out, f.state().Signs[id].Clone())
	}
	return out
}

// PreParamsReady returns the members that reported pre-parameters, sorted.
func (f *FSM) PreParamsReady() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]string, 0, len(f.state().PreParams))
	for n := range f.state().PreParams {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// AppliedIndex returns the index of the last entry applied.
func (f *FSM) AppliedIndex() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.applied
}

// TableStats reports table sizes and limits for status output.
type TableStats struct {
	Keys, PendingSigns, SignRecords, MaxSignRecords int
	RequestRecords, MaxRequestRecords               int
	RecordAge                                       time.Duration
	Handles, MaxHandles                             int
}

// TableStats returns the current table sizes.
func (f *FSM) TableStats() TableStats {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return TableStats{Keys: len(f.state().Keys), PendingSigns: f.state().Records.PendingCount(), SignRecords: len(f.state().Signs), MaxSignRecords: f.m.Config().MaxSignRecords,
		RequestRecords: len(f.state().Requests), MaxRequestRecords: f.m.Config().MaxRequestRecords, RecordAge: time.Duration(f.m.Limits().RequestRecordAge),
		Handles: len(f.state().Handles), MaxHandles: f.m.Config().MaxHandles}
}

// FrostCommitments returns copies of the unused commitments of a key
// version at epoch, oldest first.
func (f *FSM) FrostCommitments(key string, version, epoch uint32) []*FrostCommitment {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Frost.Of(key, version, epoch)
}

// FrostIDsOf returns the ids of node's unused commitments and the index
// of the last entry applied, read together: a commitment absent at that
// index was consumed or discarded by an entry at or below it.
func (f *FSM) FrostIDsOf(node string) (map[string]bool, uint64) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Frost.IDsOf(node), f.applied
}

// Boot returns node's current process life as the log has it, or "".
func (f *FSM) Boot(node string) string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Boots[node]
}

// Handle returns a copy of the handle with this id.
func (f *FSM) Handle(id string) (*Handle, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	h, ok := f.state().Handles[id]
	return h.Clone(), ok
}

// PolicyInForce returns a copy of the policy every replica applies
// entries under; set is false under the bootstrap policy (version 0).
func (f *FSM) PolicyInForce() (st inforce.Record, set bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Policy.Copy()
}

// PresigRoom reports whether the tenant of key may start another
// presignature under its presigs quota, as the entry would decide it now:
// the leader asks before it proposes a refill, so a full quota costs no
// entries.
func (f *FSM) PresigRoom(key string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.m.PresigRoom(key)
}

// Presigs returns copies of the key's presignatures, oldest first.
func (f *FSM) Presigs(key string) []*Presig {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Presigs.Of(key)
}

// HasPresig reports whether presignature id is pending or ready.
func (f *FSM) HasPresig(id string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.state().Presigs[id]
	return ok
}

// Time returns the replicated clock: the largest command time applied.
func (f *FSM) Time() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Time
}

// BootedAfter reports whether member node started a new process life at an
// entry after index: work it began before then died with the old one.
func (f *FSM) BootedAfter(node string, index uint64) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().BootIndex[node] > index
}

// FormerUnshredded returns the keys of which node is a former holder that
// has not reported shredding its shares, sorted.
func (f *FSM) FormerUnshredded(node string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Keys.FormerUnshredded(node)
}

// TenantGeneration returns the tenant's current generation
// (tenants.Registry.Generation).
func (f *FSM) TenantGeneration(tenant string) uint32 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Registry.Generation(tenant)
}

// Tenants lists the policy's tenants, the tenants that hold keys and the
// deleted ones, by name.
func (f *FSM) Tenants() []TenantInfo {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.m.Tenants()
}

// TenantDeletions returns copies of the deletions records, by tenant.
func (f *FSM) TenantDeletions() []*TenantDeletion {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Registry.Deletions()
}

// AuditKey returns the audit key: the active audit key created first, or
// else the newest attempt (generating or failed). ok is false before the
// leader asked for one; attempts counts the names used.
func (f *FSM) AuditKey() (k *Key, attempts int, ok bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.m.AuditKey()
}

// AuditHead returns the chain head; zero when audit is off or empty.
func (f *FSM) AuditHead() auditchain.Head {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Audit.Tip()
}

// AuditRecent returns up to limit records with seq >= from that the state
// still keeps, oldest first.
func (f *FSM) AuditRecent(from uint64, limit int) []audit.Record {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Audit.Since(from, limit)
}

// Authorize decides a request of actor on key under the policy in force
// on this replica, for reads served here and for refusing early what the
// log would refuse anyway.
func (f *FSM) Authorize(actor string, a policy.Action, key string) policy.Decision {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return policy.Decide(f.m.Policy(), authz.Request(actor, "", a, key))
}

// AuthorizeErr is Authorize as the error the entry would carry.
func (f *FSM) AuthorizeErr(actor string, a policy.Action, key string) error {
	return authz.Err(f.Authorize(actor, a, key), string(a), key)
}

// AuditScope is Policy.AuditScope for actor under the policy in force on
// this replica; reads are filtered where they are served.
func (f *FSM) AuditScope(actor string) (all bool, tenants []string, err error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	who, _ := policy.PrincipalOf(actor)
	all, tenants, denied := f.m.Policy().AuditScope(who)
	if denied {
		return false, nil, fmt.Errorf("read audit: %w (%s)", policy.ErrPermissionDenied, policy.ReasonPrincipalDenied)
	}
	return all, tenants, nil
}

// SerialDenied reports whether a client certificate serial (canonical
// form) is on the deny-list of the policy in force on this replica.
func (f *FSM) SerialDenied(serial string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return slices.Contains(f.m.Policy().DeniedSerials, serial)
}

// SignRates returns the sign_per_second quotas that bound a sign by actor
// with key under the policy in force: the key's tenant's and the actor's
// own (0: unbounded). The leader takes a token from each before it
// appends the request.
func (f *FSM) SignRates(actor, key string) (tenant, principal int) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	p := f.m.Policy()
	if p.Open {
		return 0, 0
	}
	who, _ := policy.PrincipalOf(actor)
	tenant = p.Quotas[policy.TenantOf(key)].SignPerSecond
	if q := p.Principals[who].Quota; q != nil {
		principal = q.SignPerSecond
	}
	return tenant, principal
}

// AdmitSign reports the quota refusal the FSM would give a new sign by
// actor with key now, so the leader refuses it before it costs an entry.
// Every other verdict is left to the entry, which decides it again.
func (f *FSM) AdmitSign(actor, key, requestID string) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.m.AdmitSign(actor, key, requestID)
}

// Excluded returns the members excluded from committees at now (unix
// nanoseconds), sorted. The picker on the leader asks with its own clock:
// exclusion is a preference among committees, not a safety property.
func (f *FSM) Excluded(now int64) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Blame.Excluded(now)
}

// BlameOf returns a copy of member's blame record.
func (f *FSM) BlameOf(member string) (*blame.Record, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Blame.Of(member)
}

// BlamedIn returns the members accused in attempt of requestID, sorted.
func (f *FSM) BlamedIn(requestID string, attempt uint32) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Blame.BlamedIn(requestID, attempt)
}

// Ceremony returns a copy of the ceremony with this id.
func (f *FSM) Ceremony(id string) (*ceremony.Ceremony, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Ceremonies.Get(id)
}

// Ceremonies returns copies of every kept ceremony, newest first.
func (f *FSM) Ceremonies() []*ceremony.Ceremony {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Ceremonies.List()
}

// ReplicatedTime returns the replicated time this replica has applied.
func (f *FSM) ReplicatedTime() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Time
}

// FrozenState returns the freeze in force, or nil.
func (f *FSM) FrozenState() *freeze.Frozen {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Frozen.Copy()
}

// Members returns a copy of the replicated membership, or nil while it is
// still the bootstrap set of cluster.yaml.
func (f *FSM) Members() map[string]membership.Member {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Members.Copy()
}

// HolderTarget returns the members every key's shares should be held by,
// sorted, or nil while the membership is the bootstrap set.
func (f *FSM) HolderTarget() []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.state().Members == nil {
		return nil
	}
	return f.state().Members.Holders()
}

// Protocol returns the cluster's active protocol version.
func (f *FSM) Protocol() uint32 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().ActiveProtocol()
}

// ProtocolSupport returns, by member, the highest protocol version each
// reported at its last start.
func (f *FSM) ProtocolSupport() map[string]uint32 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Supports.Copy()
}

// ProtocolToRaise returns the version the active protocol can rise to now:
// the lowest version that every one of members supports, when that is
// above the active one, else 0.
func (f *FSM) ProtocolToRaise(members []string) uint32 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Supports.ToRaise(members, f.state().ActiveProtocol(), MaxProtocol)
}

// LimitsInForce returns the limits every replica applies entries under,
// and whether they are replicated (false: this node's FSMConfig, before the
// first SetLimits).
func (f *FSM) LimitsInForce() (settings.Limits, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.m.Limits(), f.state().Limits != nil
}

// SettingsDrift returns, by member, the reported settings that differ from
// the baseline (see settings.Drift).
func (f *FSM) SettingsDrift() map[string][]settings.Drift {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Settings.Drift()
}

// Settings returns a copy of the settings member node last reported.
func (f *FSM) Settings(node string) map[string]string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state().Settings.Of(node)
}
