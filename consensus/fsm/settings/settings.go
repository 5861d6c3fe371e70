// Package settings holds the two kinds of settings the state machine
// keeps: what changes how an entry applies is replicated, so that two
// replicas whose local files differ cannot apply one entry two ways; what
// stays local is reported, so that a difference between members is seen.
//
// Replicated limits (Limits, set by SetLimits): the longest handle TTL and
// the age after which a request id is forgotten. Until the first
// SetLimits (it needs protocol 2) the FSM uses its FSMConfig, as before.
//
// Reported settings (Reports, filled by NodeSettings): each member's
// fingerprint of its security-relevant local settings (TPM backend and
// PCRs, pre-params source, mode, TLS trust, binary, Go and tss-lib
// versions, and its local copy of the replicated limits). The table keeps
// the latest per member; a change is an audit record naming old and new
// values, and a value that differs from what most members report is drift
// (Drift).
//
// The package is pure, like the state machine that holds these values.
package settings

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
)

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

// Check refuses limits outside the bounds cluster.yaml allows.
func (l Limits) Check() error {
	switch {
	case l.MaxHandleTTL < int64(time.Second) || l.MaxHandleTTL > maxHandleTTLCeiling:
		return fmt.Errorf("set limits: %w: max_handle_ttl %s is outside [1s, 8760h]", fsmerr.ErrInvalidCommand, time.Duration(l.MaxHandleTTL))
	case l.RequestRecordAge < minRecordAge:
		return fmt.Errorf("set limits: %w: request_record_age %s is below 1m", fsmerr.ErrInvalidCommand, time.Duration(l.RequestRecordAge))
	}
	return nil
}

// ChangeNote says, for the audit record, how the limits move from old to l.
func (l Limits) ChangeNote(old Limits) string {
	return fmt.Sprintf("handles.max_ttl %s -> %s; lifecycle.dedup_age %s -> %s",
		time.Duration(old.MaxHandleTTL), time.Duration(l.MaxHandleTTL), time.Duration(old.RequestRecordAge), time.Duration(l.RequestRecordAge))
}

// Bounds of one report: names and values are short.
const (
	maxSettings       = 64
	maxSettingNameLen = 64
	maxSettingLen     = 256
)

// CheckReport refuses a member's report that names no node, holds no
// setting or too many, or a setting whose name is empty or whose name or
// value is too long.
func CheckReport(node string, settings map[string]string) error {
	if node == "" || len(settings) == 0 || len(settings) > maxSettings {
		return fmt.Errorf("node settings: %w: a node and 1 to %d settings are required", fsmerr.ErrInvalidCommand, maxSettings)
	}
	for name, v := range settings {
		if name == "" || len(name) > maxSettingNameLen || len(v) > maxSettingLen {
			return fmt.Errorf("node settings: %w: setting %.64q is empty or too long", fsmerr.ErrInvalidCommand, name)
		}
	}
	return nil
}

// Reports is the replicated table of each member's last reported
// settings, by member. It is a map, so a snapshot holds it exactly as the
// table it replaced; the state machine keeps it non-nil.
type Reports map[string]map[string]string

// Same reports whether settings are what node reported last.
func (r Reports) Same(node string, settings map[string]string) bool {
	return maps.Equal(r[node], settings)
}

// Of returns a copy of the settings node reported last.
func (r Reports) Of(node string) map[string]string { return maps.Clone(r[node]) }

// Record keeps a member's reported settings and describes, for the audit
// record, what changed since its last report and what differs from the
// other members'.
func (r Reports) Record(node string, settings map[string]string) string {
	if settings == nil {
		return ""
	}
	prev := r[node]
	r[node] = maps.Clone(settings)
	var notes []string
	if prev != nil {
		if changed := diff(prev, settings); changed != "" {
			notes = append(notes, "settings changed: "+changed)
		}
	}
	if drift := r.DriftOf(node); len(drift) > 0 {
		var parts []string
		for _, d := range drift {
			parts = append(parts, fmt.Sprintf("%s=%s (most members: %s)", d.Setting, d.Value, d.Baseline))
		}
		notes = append(notes, "drift: "+strings.Join(parts, ", "))
	}
	return strings.Join(notes, "; ")
}

// diff lists the settings whose value differs between a and b, in name
// order.
func diff(a, b map[string]string) string {
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

// DriftOf returns node's settings that differ from the baseline, by name.
// The baseline of a setting is the value most reporting members have; a
// tie has no baseline, and every member in it drifts from none.
func (r Reports) DriftOf(node string) []Drift {
	mine := r[node]
	var out []Drift
	for _, name := range slices.Sorted(maps.Keys(mine)) {
		count := map[string]int{}
		for _, s := range r {
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

// Drift returns, by member, the reported settings that differ from the
// baseline (see Drift).
func (r Reports) Drift() map[string][]Drift {
	out := map[string][]Drift{}
	for node := range r {
		if d := r.DriftOf(node); len(d) > 0 {
			out[node] = d
		}
	}
	return out
}
