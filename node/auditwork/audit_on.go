//go:build !kqd_noaudit

package auditwork

// Compiled is false only in kqd_noaudit builds, which exist to measure
// what the audit trail costs (make bench). Never ship one: such a node keeps
// no evidence.
const Compiled = true
