// Package entry is the replicated log's wire format: every command type
// (CommandType, Command and its 42 entry structs), the names each is
// written under, and what a command says of itself (Report, Stamped).
//
// It is its own package because the format is a compatibility contract,
// not an implementation detail of the state machine: every replica,
// including one of an older build still running protocol 1 (a kqd_compat
// build) during a rolling upgrade, must decode the same bytes to the same
// command, and every snapshot and audit record derived from them must stay
// byte-identical. A change of a JSON tag or a field's type is reviewed
// here, in one place, against the protocol versions (package protover);
// and the node, tests and tools can build and read commands without
// importing the state machine. Package fsm decides what each command
// does; this package holds only data and never changes state.
//
// The package is pure (make vet checks it with cmd/internal/purity).
package entry
