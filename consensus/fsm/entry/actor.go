package entry

import (
	"strconv"
	"strings"
)

// The actors and the key name the cluster writes into entries it makes
// for itself. Every replica must recognise them alike: an entry by the
// cluster is not decided as a client's request.
const (
	// ActorSupervisor is the leader's supervisor (retries, failures).
	ActorSupervisor = "cluster:supervisor"
	// nodeActorPrefix names a member reporting its own work: "node:n1".
	nodeActorPrefix = "node:"
)

// NodeActor is the actor of a member's report.
func NodeActor(id string) string { return nodeActorPrefix + id }

// Internal reports whether an actor is the cluster itself: a member or
// the leader's supervisor, never a client.
func Internal(actor string) bool {
	return strings.HasPrefix(actor, nodeActorPrefix) || actor == ActorSupervisor
}

// AuditKeyName is the cluster's own Ed25519 key that signs audit
// checkpoints. The leader creates it once the cluster is up; clients cannot
// name it (key names start with a letter or digit). When its generation
// fails (a member crashed during it), the leader tries again as
// "_audit.2", "_audit.3", ...; the first to become active is the audit key.
const AuditKeyName = "_audit"

// IsAuditKey reports whether name is one of the audit key's names.
func IsAuditKey(name string) bool {
	if name == AuditKeyName {
		return true
	}
	n, ok := strings.CutPrefix(name, AuditKeyName+".")
	_, err := strconv.Atoi(n)
	return ok && err == nil
}
