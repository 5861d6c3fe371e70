//go:build kqd_noaudit

package auditwork

// Compiled is false in this kqd_noaudit build: see audit_on.go.
const Compiled = false
