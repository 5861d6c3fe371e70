//go:build kqd_bugs

package commands

// bugsCompiled enables the deliberate bugs of Config in kqd_bugs
// builds only (node/faults lists them all).
const bugsCompiled = true
