// Package fsm is keyquorum's replicated state machine: the deterministic
// function every replica applies to the same raft log, in the same order,
// to reach the same state. It holds keys (public facts only), signing and
// presignature records, handles, tenants, the policy in force (a document
// of package policy, which decides requests by it) and its ceremonies,
// membership, settings, blame and the audit chain.
//
// This package is the shell: FSM implements raft.FSM around a
// commands.Machine, the deterministic core that applies each entry. The
// shell holds what concurrency and raft need: the lock that serialises
// Apply with the read API (read.go, each call under the read lock), the
// applied index, the observers, snapshots and their restore, and the halt
// at an entry this build cannot interpret. It decodes the log's entries
// (codec.go: Encode and Decode, their envelope and protocol versions);
// the entries themselves, Command and its types, are package entry's (the
// wire format, aliased in entries.go), and the records, states and errors
// of applying them are package commands' and its families' (aliased in
// names.go), so callers keep one vocabulary.
//
// Under this package, each family's replicated record and the rules of
// its changes are a pure package of their own (keys: keys and their
// versions' lifecycle; signs: the signing records; dedup: the memory of
// requests already acted on; pool: presignatures and FROST commitments;
// handles: signing handles; tenants: tenant generations and deletions;
// inforce: the policy in force; ceremony: operator quorum ceremonies;
// membership: the replicated membership; settings: replicated limits and
// reported settings; blame: accusations and committee exclusion;
// auditchain: the audit chain's head and recent records; protover:
// protocol versions and the raise rule; freeze: the break-glass freeze),
// and state holds them all as the one value a snapshot is; authz decides
// a client's entry under the policy before it applies. Errors they share
// are fsmerr's, and strictjson is the one strict JSON reader.
//
// The package is pure: it imports no os, net, math/rand or crypto/rand and
// never reads the clock (make vet checks every file of it with
// cmd/internal/purity). Replicas that applied the same entries must agree
// byte for byte, in results, snapshots and audit records, so time comes
// from the leader's stamp on the entry (Stamped), randomness never enters,
// and anything slow or randomized, such as a signing session, runs in the
// node after the entry committed and comes back as a new entry. The only
// outside calls go through Crypto, whose implementations must be
// deterministic, and Observer and AuditObserver, which only queue.
//
// FSM implements raft.FSM; package consensus runs raft around it.
package fsm
