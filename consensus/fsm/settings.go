package fsm

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/consensus/audit"
)

// settingsCommands change the replicated limits and record members'
// local settings.
func settingsCommands() []commandSpec {
	return []commandSpec{
		spec[SetLimits](ProtocolV2),
		spec[NodeSettings](ProtocolV2),
	}
}

// Settings: what changes how an entry applies is replicated, so that two
// replicas whose local files differ cannot apply one entry two ways; what
// stays local is reported, so that a difference between members is seen.
//
// Replicated limits (SetLimits): the longest handle TTL and the age after
// which a request id is forgotten. Until the first SetLimits (it needs
// protocol 2) the FSM uses its FSMConfig, as before.
//
// Reported settings (NodeSettings): each member's fingerprint of its
// security-relevant local settings (TPM backend and PCRs, pre-params
// source, mode, TLS trust, binary, Go and tss-lib versions, and its local
// copy of the replicated limits). The FSM keeps the latest per member; a
// change is an audit record naming old and new values, and a value that
// differs from what most members report is drift (SettingsDrift).

// TypeSetLimits replaces the replicated limits.
const TypeSetLimits CommandType = "set_limits"

// SetLimits sets the limits every replica applies entries under. Times are
// nanoseconds.
type SetLimits struct {
	MaxHandleTTL     int64  `json:"max_handle_ttl"`
	RequestRecordAge int64  `json:"request_record_age"`
	Actor            string `json:"actor"`
	Time             int64  `json:"time"`
}

func (SetLimits) Type() CommandType   { return TypeSetLimits }
func (c *SetLimits) Stamp(t int64)    { c.Time = t }
func (c *SetLimits) StampTime() int64 { return c.Time }

// TypeNodeSettings reports a member's local settings.
const TypeNodeSettings CommandType = "node_settings"

// NodeSettings is a member's fingerprint of its security-relevant local
// settings, reported at start and whenever they differ from what the
// state holds for it. No secret is among them.
type NodeSettings struct {
	Node     string            `json:"node"`
	Settings map[string]string `json:"settings"`
}

func (NodeSettings) Type() CommandType  { return TypeNodeSettings }
func (c NodeSettings) Reporter() string { return c.Node }

// maxSettings bounds one report: names and values are short.
const (
	maxSettings       = 64
	maxSettingNameLen = 64
	maxSettingLen     = 256
)

func (c *NodeSettings) apply(f *FSM, _ uint64) Result {
	if c.Node == "" || len(c.Settings) == 0 || len(c.Settings) > maxSettings {
		return Result{Err: fmt.Errorf("node settings: %w: a node and 1 to %d settings are required", ErrInvalidCommand, maxSettings)}
	}
	for name, v := range c.Settings {
		if name == "" || len(name) > maxSettingNameLen || len(v) > maxSettingLen {
			return Result{Err: fmt.Errorf("node settings: %w: setting %.64q is empty or too long", ErrInvalidCommand, name)}
		}
	}
	if maps.Equal(f.st.Settings[c.Node], c.Settings) {
		return Result{Duplicate: true}
	}
	return Result{Note: f.recordSettings(c.Node, c.Settings)}
}

// Limits are the replicated limits, in nanoseconds.
type Limits struct {
	MaxHandleTTL     int64 `json:"max_handle_ttl"`
	RequestRecordAge int64 `json:"request_record_age"`
}

// Bounds of the replicated limits, as cluster.yaml's validation has them.
const (
	maxHandleTTLCeiling = int64(365 * 24 * time.Hour)
	minRecordAge        = int64(time.Minute)
)

func (c *SetLimits) apply(f *FSM, _ uint64) Result {
	switch {
	case c.MaxHandleTTL < int64(time.Second) || c.MaxHandleTTL > maxHandleTTLCeiling:
		return Result{Err: fmt.Errorf("set limits: %w: max_handle_ttl %s is outside [1s, 8760h]", ErrInvalidCommand, time.Duration(c.MaxHandleTTL))}
	case c.RequestRecordAge < minRecordAge:
		return Result{Err: fmt.Errorf("set limits: %w: request_record_age %s is below 1m", ErrInvalidCommand, time.Duration(c.RequestRecordAge))}
	}
	old := f.limits()
	f.st.Limits = &Limits{MaxHandleTTL: c.MaxHandleTTL, RequestRecordAge: c.RequestRecordAge}
	return Result{Note: fmt.Sprintf("handles.max_ttl %s -> %s; lifecycle.dedup_age %s -> %s",
		time.Duration(old.MaxHandleTTL), time.Duration(c.MaxHandleTTL), time.Duration(old.RequestRecordAge), time.Duration(c.RequestRecordAge))}
}

// limits returns the limits in force: the replicated ones once set.
func (f *FSM) limits() Limits {
	if l := f.st.Limits; l != nil {
		return *l
	}
	return Limits{MaxHandleTTL: int64(f.cfg.MaxHandleTTL), RequestRecordAge: int64(f.cfg.RequestRecordAge)}
}

// LimitsInForce returns the limits every replica applies entries under,
// and whether they are replicated (false: this node's FSMConfig, before the
// first SetLimits).
func (f *FSM) LimitsInForce() (Limits, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.limits(), f.st.Limits != nil
}

// recordSettings keeps a member's reported settings and describes, for the
// audit record, what changed since its last report and what differs from
// the other members'.
func (f *FSM) recordSettings(node string, settings map[string]string) string {
	if settings == nil {
		return ""
	}
	prev := f.st.Settings[node]
	f.st.Settings[node] = maps.Clone(settings)
	var notes []string
	if prev != nil {
		if changed := diffSettings(prev, settings); changed != "" {
			notes = append(notes, "settings changed: "+changed)
		}
	}
	if drift := f.driftOf(node); len(drift) > 0 {
		var parts []string
		for _, d := range drift {
			parts = append(parts, fmt.Sprintf("%s=%s (most members: %s)", d.Setting, d.Value, d.Baseline))
		}
		notes = append(notes, "drift: "+strings.Join(parts, ", "))
	}
	return strings.Join(notes, "; ")
}

// diffSettings lists the settings whose value differs between a and b, in
// name order.
func diffSettings(a, b map[string]string) string {
	names := slices.Sorted(maps.Keys(a))
	for n := range b {
		if _, ok := a[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var parts []string
	for _, n := range names {
		if a[n] != b[n] {
			parts = append(parts, fmt.Sprintf("%s %q -> %q", n, a[n], b[n]))
		}
	}
	return strings.Join(parts, ", ")
}

// Drift is one setting of one member that differs from the baseline: the
// value most members report.
type Drift struct {
	Setting, Value, Baseline string
}

// driftOf returns node's settings that differ from the baseline, by name.
// The baseline of a setting is the value most reporting members have; a
// tie has no baseline, and every member in it drifts from none.
func (f *FSM) driftOf(node string) []Drift {
	mine := f.st.Settings[node]
	var out []Drift
	for _, name := range slices.Sorted(maps.Keys(mine)) {
		count := map[string]int{}
		for _, s := range f.st.Settings {
			if v, ok := s[name]; ok {
				count[v]++
			}
		}
		base, best, tie := "", 0, false
		for _, v := range slices.Sorted(maps.Keys(count)) {
			switch {
			case count[v] > best:
				base, best, tie = v, count[v], false
			case count[v] == best:
				tie = true
			}
		}
		if !tie && mine[name] != base {
			out = append(out, Drift{Setting: name, Value: mine[name], Baseline: base})
		}
	}
	return out
}

// SettingsDrift returns, by member, the reported settings that differ from
// the baseline (see Drift).
func (f *FSM) SettingsDrift() map[string][]Drift {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := map[string][]Drift{}
	for node := range f.st.Settings {
		if d := f.driftOf(node); len(d) > 0 {
			out[node] = d
		}
	}
	return out
}

// Settings returns a copy of the settings member node last reported.
func (f *FSM) Settings(node string) map[string]string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return maps.Clone(f.st.Settings[node])
}

func (c *SetLimits) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func (c *NodeSettings) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Actor, r.Reason = NodeActor(c.Node), res.Note
	return []audit.Record{r}
}
