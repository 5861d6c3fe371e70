// Package audittrail is a node's side of the audit trail, and only that:
// its copy of the replicated chain as export files (Export), the
// aggregation of refusals that never reach the log (Denials), and the
// AuditService that answers from that copy (Service). The chain itself,
// its records and hashes are consensus/audit's; the node feeds the export
// from its state machine, appends the aggregated denials, and serves the
// service through the small Node interface.
package audittrail
