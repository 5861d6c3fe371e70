// Package fsm is keyquorum's replicated state machine: the deterministic
// function every replica applies to the same raft log, in the same order,
// to reach the same state. It holds keys (public facts only), signing and
// presignature records, handles, tenants, the policy in force (a document
// of package policy, which decides requests by it) and its ceremonies,
// membership, settings, blame and the audit chain. The log's entries,
// Command and its types, are package entry's (the wire format, aliased here
// in entries.go), and Encode and Decode their envelope. Each family of
// entry types keeps in one file of this package its rows of the command
// table, one a type with the protocol version that introduced it, and the
// functions the rows name: how each type applies and the audit records each
// derives; registry.go joins the families into the one table. A family's
// replicated record and the rules of its changes are a value of its own
// pure package under this one (keys: keys and their versions' lifecycle;
// signs: the signing records; dedup: the memory of requests already acted
// on; pool: presignatures and FROST commitments; handles: signing handles;
// tenants: tenant generations and deletions; inforce: the policy in force;
// ceremony: operator quorum ceremonies; membership: the replicated
// membership; settings: replicated limits and reported settings; blame:
// accusations and committee exclusion; auditchain: the audit chain's head
// and recent records; protover: protocol versions and the raise rule;
// freeze: the break-glass freeze), and state holds them all as the one
// value a snapshot is; authz decides a client's entry under the policy
// before it applies. Errors they share with this package are fsmerr's, and
// strictjson is the one strict JSON reader; an entry's apply looks the
// record up, calls its rules and coordinates what one family's change means
// for another.
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
