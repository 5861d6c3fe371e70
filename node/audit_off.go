//go:build kqd_noaudit

package node

const auditCompiled = false
