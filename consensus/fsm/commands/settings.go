package commands

import (
	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/fsm/settings"
)

// settingsCommands change the replicated limits and record members'
// local settings.
func settingsCommands() []commandSpec {
	return []commandSpec{
		spec(protover.V2, applySetLimits, recordsSetLimits),
		spec(protover.V2, applyNodeSettings, recordsNodeSettings),
	}
}

// The replicated limits and the reported settings, and the rules of
// each, are package settings'.

func applyNodeSettings(f *Machine, c *entry.NodeSettings, _ uint64) Result {
	if err := settings.CheckReport(c.Node, c.Settings); err != nil {
		return Result{Err: err}
	}
	if f.st.Settings.Same(c.Node, c.Settings) {
		return Result{Duplicate: true}
	}
	return Result{Note: f.st.Settings.Record(c.Node, c.Settings)}
}

func applySetLimits(f *Machine, c *entry.SetLimits, _ uint64) Result {
	l := settings.Limits{MaxHandleTTL: c.MaxHandleTTL, RequestRecordAge: c.RequestRecordAge}
	if err := l.Check(); err != nil {
		return Result{Err: err}
	}
	old := f.limits()
	f.st.Limits = &l
	return Result{Note: l.ChangeNote(old)}
}

// limits returns the limits in force: the replicated ones once set.
func (f *Machine) limits() settings.Limits {
	if l := f.st.Limits; l != nil {
		return *l
	}
	return settings.Limits{MaxHandleTTL: int64(f.cfg.MaxHandleTTL), RequestRecordAge: int64(f.cfg.RequestRecordAge)}
}

func recordsSetLimits(_ *Machine, c *entry.SetLimits, res Result, r audit.Record) []audit.Record {
	return []audit.Record{noteRecord(r, c.Actor, res)}
}

func recordsNodeSettings(_ *Machine, c *entry.NodeSettings, res Result, r audit.Record) []audit.Record {
	r.Reason = res.Note
	return []audit.Record{r}
}
