package fsm

import "github.com/keyquorum/keyquorum/consensus/audit"

// entry is what a command type does in the state machine. Each type
// implements it beside its declaration, in its family's file, and lists
// itself in that family's table with the protocol version that introduced
// it: adding an entry type touches that file and its tests.
type entry interface {
	Command
	// apply changes the state as the command says, at log index, under
	// f.mu; the policy in force has allowed the command and its stamp has
	// advanced replicated time. A refused command changes nothing.
	apply(f *FSM, index uint64) Result
	// records derives the command's unlinked audit records from r, the
	// record every entry starts from: the type as Op, the supervisor as
	// actor and the outcome of res. It runs after apply, under f.mu, and
	// sees the state the entry left. No record holds a message, digest,
	// signature share or secret: signed inputs appear as their SHA-256.
	records(f *FSM, res Result, r audit.Record) []audit.Record
}

// commandSpec is one row of the command table: how to make an empty
// command of the type, to decode an entry into, and the protocol version
// that introduced the type.
type commandSpec struct {
	new   func() entry
	since uint32
}

// spec is the row of command type T, introduced at protocol version since.
func spec[T any, P interface {
	*T
	entry
}](since uint32) commandSpec {
	return commandSpec{new: func() entry { return P(new(T)) }, since: since}
}

// commands is the one table of command types, keyed by the type each
// command names itself. It is built once from the families' tables and
// never changed.
var commands = commandTable(
	keyCommands(), signCommands(), presignCommands(), frostCommands(), handleCommands(), lifecycleCommands(),
	reshareCommands(), auditCommands(), protocolCommands(), settingsCommands(), blameCommands(),
	policyCommands(), tenantCommands(), ceremonyCommands(), freezeCommands(), recoveryCommands(), membershipCommands(),
)

func commandTable(families ...[]commandSpec) map[CommandType]commandSpec {
	t := map[CommandType]commandSpec{}
	for _, fam := range families {
		for _, s := range fam {
			t[s.new().Type()] = s
		}
	}
	return t
}

// newCommand returns a new, empty command of type t and the protocol
// version that introduced it; nil and 0 for a type this build does not
// know.
func newCommand(t CommandType) (Command, uint32) {
	s, ok := commands[t]
	if !ok {
		return nil, 0
	}
	return s.new(), s.since
}
