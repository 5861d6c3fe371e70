// Package commands applies the replicated log's entries to keyquorum's
// state: the deterministic core of the state machine, which every replica
// must run to the same state, result and audit records from the same
// entries. Machine holds the replicated state (package state), the limits
// (Config), the algorithm checks (Crypto) and the audit chain's config;
// Apply applies one decoded command and links its audit records.
//
// It is apart from package fsm, the shell that runs it under raft,
// because it holds no lock and does no I/O: fsm serialises Apply with the
// reads, decodes entries, snapshots and restores the state, and stops at
// an entry its build cannot follow. Here is only what an entry does.
//
// Each family of entry types keeps in one file its rows of the command
// table, one a type with the protocol version that introduced it, and the
// functions the rows name: how each type applies and the audit records
// each derives; registry.go joins the families into the one table. A
// family's record and the rules of its changes are a pure package of its
// own under consensus/fsm; an entry's apply looks the record up, calls its
// rules and coordinates what one family's change means for another.
// Package authz decides a client's entry under the policy before it
// applies (authz.go holds the state it reads).
//
// The package is pure: it imports no os, net, math/rand or crypto/rand and
// never reads the clock (make vet checks every file of it with
// cmd/internal/purity). Time comes from the leader's stamp on the entry
// (Stamped), randomness never enters, and the only outside calls go
// through Crypto, whose implementations must be deterministic.
package commands
