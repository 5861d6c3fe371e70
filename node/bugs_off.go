//go:build !kqd_bugs

package node

const bugsCompiled = false
