package fsm

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// presignCommands are presignatures and the member reports they depend
// on: pre-parameters and process lives.
func presignCommands() []commandSpec {
	return []commandSpec{
		spec[PreParamsReady](ProtocolV1),
		spec[PresignRequested](ProtocolV1),
		spec[PresignReady](ProtocolV1),
		spec[PresignDiscarded](ProtocolV1),
		spec[NodeBooted](ProtocolV1),
	}
}

// The presignature commands, and the member reports they depend on.
const (
	TypePreParamsReady   CommandType = "preparams_ready"
	TypePresignRequested CommandType = "presign_requested"
	TypePresignReady     CommandType = "presign_ready"
	TypePresignDiscarded CommandType = "presign_discarded"
	TypeNodeBooted       CommandType = "node_booted"
)

// PreParamsReady reports that Node holds sealed ECDSA pre-parameters and can
// join ECDSA key generation.
type PreParamsReady struct {
	Node string `json:"node"`
}

// PresignRequested asks Committee to run the message-independent rounds of
// an ECDSA signature with the key's current version and park the session.
type PresignRequested struct {
	ID        string   `json:"id"`
	Key       string   `json:"key"`
	Committee []string `json:"committee"`
	Time      int64    `json:"time"`
	TTL       int64    `json:"ttl"` // nanoseconds from Time until the presignature expires
}

// PresignReady reports that Node parked its half of presignature ID during
// the process life Boot.
type PresignReady struct {
	ID   string `json:"id"`
	Node string `json:"node"`
	Boot string `json:"boot"`
}

// PresignDiscarded ends a presignature that failed, stalled or expired.
type PresignDiscarded struct {
	ID     string `json:"id"`
	Node   string `json:"node"`
	Reason string `json:"reason"`
}

// NodeBooted records a new process life of Node. Parked sessions live in
// memory only, so every presignature that Node took part in dies with it.
type NodeBooted struct {
	Node string `json:"node"`
	Boot string `json:"boot"`
	// Protocol is the newest protocol version the node's build supports;
	// absent means ProtocolV1.
	Protocol uint32 `json:"protocol,omitempty"`
}

func (PresignRequested) Type() CommandType { return TypePresignRequested }
func (PresignReady) Type() CommandType     { return TypePresignReady }
func (PresignDiscarded) Type() CommandType { return TypePresignDiscarded }
func (NodeBooted) Type() CommandType       { return TypeNodeBooted }
func (PreParamsReady) Type() CommandType   { return TypePreParamsReady }

func (c *PresignRequested) Stamp(t int64)    { c.Time = t }
func (c *PresignRequested) StampTime() int64 { return c.Time }

func (c PreParamsReady) Reporter() string   { return c.Node }
func (c PresignReady) Reporter() string     { return c.Node }
func (c PresignDiscarded) Reporter() string { return c.Node }
func (c NodeBooted) Reporter() string       { return c.Node }

// PresigState is the lifecycle state of a presignature. A used, discarded
// or expired presignature is deleted, so an entry naming it finds nothing.
type PresigState string

// Presignature states.
const (
	PresigPending PresigState = "pending" // members are running rounds 1-4
	PresigReady   PresigState = "ready"   // every member parked its half
)

// Presig is the replicated record of one ECDSA presignature. Its secret
// halves live in the members' memory; this record decides, once and for
// every replica, which sign request consumes it.
type Presig struct {
	ID        string      `json:"id"`
	Key       string      `json:"key"`
	Version   uint32      `json:"version"`
	Epoch     uint32      `json:"epoch"` // share epoch the halves were made with
	Committee []string    `json:"committee"`
	State     PresigState `json:"state"`
	Ready     []string    `json:"ready,omitempty"` // members parked, sorted
	// SessionIndex is the log index of the PresignRequested entry; with the
	// id it derives the session id.
	SessionIndex uint64 `json:"session_index"`
	Created      int64  `json:"created"`
	Expires      int64  `json:"expires"`
}

func (p *Presig) clone() *Presig {
	c := *p
	c.Committee = slices.Clone(p.Committee)
	c.Ready = slices.Clone(p.Ready)
	return &c
}

func (c *PresignRequested) apply(f *FSM, index uint64) Result {
	k, ok := f.st.Keys[c.Key]
	switch {
	case !ok:
		return Result{Err: fmt.Errorf("presign %q: %w", c.Key, ErrUnknownKey)}
	case k.Primary == 0 || k.SignVersion(k.Primary) != nil:
		return Result{Err: fmt.Errorf("presign %q: %w", c.Key, ErrKeyNotActive)}
	case k.Algorithm != "ecdsa-secp256k1":
		return Result{Err: fmt.Errorf("presign %q: %w: presignatures are for ECDSA only", c.Key, ErrInvalidCommand)}
	case c.ID == "" || c.TTL <= 0:
		return Result{Err: fmt.Errorf("presign %q: %w: id and ttl are required", c.Key, ErrInvalidCommand)}
	case f.st.Presigs[c.ID] != nil:
		return Result{Err: fmt.Errorf("presign %q: %w: id %s taken", c.Key, ErrInvalidCommand, c.ID)}
	}
	if err := k.CheckCommittee(c.Committee); err != nil {
		return Result{Err: fmt.Errorf("presign %q: %w", c.Key, err)}
	}
	f.expirePresigs()
	if f.presigCount(c.Key) >= f.cfg.MaxPresigsPerKey {
		return Result{Err: fmt.Errorf("presign %q: %w", c.Key, ErrTooManyPresigs)}
	}
	if limit, used := f.tenantPresigs(policy.TenantOf(c.Key)); limit > 0 && used >= limit {
		return Result{Err: fmt.Errorf("presign %q: %w", c.Key, policy.NewQuotaExceeded("tenant", policy.TenantOf(c.Key), policy.QuotaPresigs, limit, 0))}
	}
	p := &Presig{ID: c.ID, Key: c.Key, Version: k.Primary, Epoch: k.Version(k.Primary).Epoch, Committee: slices.Clone(c.Committee), State: PresigPending,
		SessionIndex: index, Created: f.st.Time, Expires: f.st.Time + c.TTL}
	f.st.Presigs[c.ID] = p
	return Result{Presig: p.clone()}
}

func (c *PresignReady) apply(f *FSM, _ uint64) Result {
	p, ok := f.st.Presigs[c.ID]
	if !ok {
		return Result{Err: fmt.Errorf("presignature %s: %w", c.ID, ErrStale)}
	}
	// A report from an earlier life of the member describes a session that
	// died with that process.
	if !slices.Contains(p.Committee, c.Node) || c.Boot == "" || f.st.Boots[c.Node] != c.Boot {
		return Result{Err: fmt.Errorf("presignature %s from %s: %w", c.ID, c.Node, ErrStale)}
	}
	if !slices.Contains(p.Ready, c.Node) {
		p.Ready = append(p.Ready, c.Node)
		slices.Sort(p.Ready)
	}
	if len(p.Ready) == len(p.Committee) {
		p.State = PresigReady
	}
	return Result{Presig: p.clone()}
}

func (c *PresignDiscarded) apply(f *FSM, _ uint64) Result {
	if _, ok := f.st.Presigs[c.ID]; !ok {
		return Result{Err: fmt.Errorf("presignature %s: %w", c.ID, ErrStale)}
	}
	delete(f.st.Presigs, c.ID)
	return Result{}
}

func (c *NodeBooted) apply(f *FSM, index uint64) Result {
	if c.Node == "" || c.Boot == "" {
		return Result{Err: fmt.Errorf("node booted: %w: node and boot are required", ErrInvalidCommand)}
	}
	f.st.Boots[c.Node] = c.Boot
	f.st.BootIndex[c.Node] = index
	f.st.Supports[c.Node] = max(c.Protocol, ProtocolV1)
	for id, p := range f.st.Presigs {
		if slices.Contains(p.Committee, c.Node) {
			delete(f.st.Presigs, id)
		}
	}
	f.dropFrostOf(c.Node)
	return Result{}
}

// consumePresig checks that a sign request may use the named presignature
// and deletes it: from this entry on, no other request can name it.
func (f *FSM) consumePresig(k *Key, version uint32, c *SignRequested) error {
	p, ok := f.st.Presigs[c.Presig]
	switch {
	case !ok:
		return fmt.Errorf("%w: %s is unknown or used", ErrPresigUnavailable, c.Presig)
	case p.State != PresigReady:
		return fmt.Errorf("%w: %s is %s", ErrPresigUnavailable, c.Presig, p.State)
	case f.st.Time >= p.Expires:
		delete(f.st.Presigs, c.Presig)
		return fmt.Errorf("%w: %s expired", ErrPresigUnavailable, c.Presig)
	case p.Key != k.Name || p.Version != version || p.Epoch != k.Version(version).Epoch || !slices.Equal(p.Committee, c.Committee):
		return fmt.Errorf("%w: %s belongs to another key, version or committee", ErrPresigUnavailable, c.Presig)
	}
	delete(f.st.Presigs, c.Presig)
	return nil
}

// expirePresigs deletes presignatures past their expiry.
func (f *FSM) expirePresigs() {
	for id, p := range f.st.Presigs {
		if f.st.Time >= p.Expires {
			delete(f.st.Presigs, id)
		}
	}
}

func (f *FSM) presigCount(key string) int {
	n := 0
	for _, p := range f.st.Presigs {
		if p.Key == key {
			n++
		}
	}
	return n
}

// tenantPresigs returns the tenant's presigs quota (0: unbounded) and the
// presignatures, pending or ready, its keys hold now: the pools of all
// its ECDSA keys share the quota, since every presignature keeps its
// committee busy whichever key it is for.
func (f *FSM) tenantPresigs(tenant string) (limit, used int) {
	p := f.policy()
	if p.Open {
		return 0, 0
	}
	limit = p.Quotas[tenant].Presigs
	if limit == 0 {
		return 0, 0
	}
	for _, pr := range f.st.Presigs {
		if f.st.Time < pr.Expires && policy.TenantOf(pr.Key) == tenant {
			used++
		}
	}
	return limit, used
}

// PresigRoom reports whether the tenant of key may start another
// presignature under its presigs quota, as the entry would decide it now:
// the leader asks before it proposes a refill, so a full quota costs no
// entries.
func (f *FSM) PresigRoom(key string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	limit, used := f.tenantPresigs(policy.TenantOf(key))
	return limit == 0 || used < limit
}

// Presigs returns copies of the key's presignatures, oldest first.
func (f *FSM) Presigs(key string) []*Presig {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []*Presig
	for _, p := range f.st.Presigs {
		if p.Key == key {
			out = append(out, p.clone())
		}
	}
	slices.SortFunc(out, func(a, b *Presig) int { return cmp.Compare(a.SessionIndex, b.SessionIndex) })
	return out
}

// HasPresig reports whether presignature id is pending or ready.
func (f *FSM) HasPresig(id string) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	_, ok := f.st.Presigs[id]
	return ok
}

// Time returns the replicated clock: the largest command time applied.
func (f *FSM) Time() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Time
}

// BootedAfter reports whether member node started a new process life at an
// entry after index: work it began before then died with the old one.
func (f *FSM) BootedAfter(node string, index uint64) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.BootIndex[node] > index
}

func (c *PreParamsReady) apply(f *FSM, _ uint64) Result {
	f.st.PreParams[c.Node] = true
	return Result{}
}

func (c *PreParamsReady) records(_ *FSM, _ Result, r audit.Record) []audit.Record {
	r.Actor = NodeActor(c.Node)
	return []audit.Record{r}
}

func (c *PresignRequested) records(_ *FSM, _ Result, r audit.Record) []audit.Record {
	r.Key = c.Key
	return []audit.Record{r}
}

func (c *PresignReady) records(_ *FSM, _ Result, r audit.Record) []audit.Record {
	r.Actor = NodeActor(c.Node)
	return []audit.Record{r}
}

func (c *PresignDiscarded) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Actor = NodeActor(c.Node)
	if res.Err == nil {
		r.Reason = c.Reason
	}
	return []audit.Record{r}
}

func (c *NodeBooted) records(_ *FSM, _ Result, r audit.Record) []audit.Record {
	r.Actor = NodeActor(c.Node)
	return []audit.Record{r}
}
