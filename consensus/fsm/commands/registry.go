package commands

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
)

// commandSpec is one row of the command table: what the state machine
// does with one command type. Each family lists its types' rows in its
// own file, beside the functions the rows name: adding an entry type
// touches package entry, that file and its tests.
type commandSpec struct {
	// new makes an empty command of the type, to decode an entry into.
	new func() entry.Command
	// since is the protocol version that introduced the type.
	since uint32
	// apply changes the state as the command says, at log index; the
	// policy in force has allowed the command and its stamp has advanced
	// replicated time. A refused command changes nothing.
	apply func(f *Machine, c entry.Command, index uint64) Result
	// records derives the command's unlinked audit records from r, the
	// record every entry starts from: the type as Op, the supervisor (or,
	// for a Report, the reporting member) as actor and the outcome of res.
	// It runs after apply and sees the state the entry left. No record holds a message, digest,
	// signature share or secret: signed inputs appear as their SHA-256.
	records func(f *Machine, c entry.Command, res Result, r audit.Record) []audit.Record
}

// spec is the row of command type P, introduced at protocol version since,
// applied by apply and recorded by records.
func spec[T any, P interface {
	*T
	entry.Command
}](since uint32, apply func(*Machine, P, uint64) Result, records func(*Machine, P, Result, audit.Record) []audit.Record) commandSpec {
	// Every command the table applies or records was made by this row's
	// new (Decode), so it is a P.
	return commandSpec{
		new:   func() entry.Command { return P(new(T)) },
		since: since,
		apply: func(f *Machine, c entry.Command, index uint64) Result { return apply(f, c.(P), index) },
		records: func(f *Machine, c entry.Command, res Result, r audit.Record) []audit.Record {
			return records(f, c.(P), res, r)
		},
	}
}

// table is the one table of command types, keyed by the type each
// command names itself. It is built once from the families' tables and
// never changed.
var table = commandTable(
	keyCommands(), signCommands(), presignCommands(), frostCommands(), handleCommands(), lifecycleCommands(),
	reshareCommands(), auditCommands(), protocolCommands(), settingsCommands(), blameCommands(),
	policyCommands(), tenantCommands(), ceremonyCommands(), freezeCommands(), recoveryCommands(), membershipCommands(),
)

func commandTable(families ...[]commandSpec) map[entry.CommandType]commandSpec {
	t := map[entry.CommandType]commandSpec{}
	for _, fam := range families {
		for _, s := range fam {
			t[s.new().Type()] = s
		}
	}
	return t
}

// NewCommand returns a new, empty command of type t, to decode an entry
// into, and the protocol version that introduced it; nil and 0 for a type
// this build does not know.
func NewCommand(t entry.CommandType) (entry.Command, uint32) {
	s, ok := table[t]
	if !ok {
		return nil, 0
	}
	return s.new(), s.since
}

// rowOf returns the table row of cmd, or an error for a type this build
// does not know.
func rowOf(cmd entry.Command) (commandSpec, error) {
	s, ok := table[cmd.Type()]
	if !ok {
		return s, fmt.Errorf("%w: %T", ErrUnknownCommand, cmd)
	}
	return s, nil
}
