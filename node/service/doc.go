// Package service is keyquorum's client- and operator-facing gRPC surface,
// and only that: KeyService, OperatorService, PolicyService and
// MembershipService, with their request checks, request ids, forwarding to
// the leader, sign admission against the quotas, the mapping of errors to
// status codes, the interceptor that audits refusals that never reach the
// log, and the health statuses. BackupService and CeremonyService live in
// packages backups and ceremonies below it, built on the checks, status
// mapping and caller identity exported here, and are registered with
// these. What a call needs of the running member (propose a command and
// wait for its result, read the replicated state, wait for an entry, reach
// the leader) it asks through the narrow Runtime and State interfaces,
// which package node implements; the work driven by applied entries stays
// there.
package service
