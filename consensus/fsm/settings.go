package fsm

import (
	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/settings"
)

// settingsCommands change the replicated limits and record members'
// local settings.
func settingsCommands() []commandSpec {
	return []commandSpec{
		spec(ProtocolV2, applySetLimits, recordsSetLimits),
		spec(ProtocolV2, applyNodeSettings, recordsNodeSettings),
	}
}

// The replicated limits and the reported settings, and the rules of
// each, are package settings'.

func applyNodeSettings(f *FSM, c *NodeSettings, _ uint64) Result {
	if err := settings.CheckReport(c.Node, c.Settings); err != nil {
		return Result{Err: err}
	}
	if f.st.Settings.Same(c.Node, c.Settings) {
		return Result{Duplicate: true}
	}
	return Result{Note: f.st.Settings.Record(c.Node, c.Settings)}
}

func applySetLimits(f *FSM, c *SetLimits, _ uint64) Result {
	l := settings.Limits{MaxHandleTTL: c.MaxHandleTTL, RequestRecordAge: c.RequestRecordAge}
	if err := l.Check(); err != nil {
		return Result{Err: err}
	}
	old := f.limits()
	f.st.Limits = &l
	return Result{Note: l.ChangeNote(old)}
}

// limits returns the limits in force: the replicated ones once set.
func (f *FSM) limits() settings.Limits {
	if l := f.st.Limits; l != nil {
		return *l
	}
	return settings.Limits{MaxHandleTTL: int64(f.cfg.MaxHandleTTL), RequestRecordAge: int64(f.cfg.RequestRecordAge)}
}

// LimitsInForce returns the limits every replica applies entries under,
// and whether they are replicated (false: this node's FSMConfig, before the
// first SetLimits).
func (f *FSM) LimitsInForce() (settings.Limits, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.limits(), f.st.Limits != nil
}

// SettingsDrift returns, by member, the reported settings that differ from
// the baseline (see settings.Drift).
func (f *FSM) SettingsDrift() map[string][]settings.Drift {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Settings.Drift()
}

// Settings returns a copy of the settings member node last reported.
func (f *FSM) Settings(node string) map[string]string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Settings.Of(node)
}

func recordsSetLimits(_ *FSM, c *SetLimits, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func recordsNodeSettings(_ *FSM, c *NodeSettings, res Result, r audit.Record) []audit.Record {
	r.Reason = res.Note
	return []audit.Record{r}
}
