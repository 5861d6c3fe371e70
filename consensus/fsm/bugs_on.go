//go:build kqd_bugs

package fsm

// bugsCompiled enables the deliberate bugs of FSMConfig in kqd_bugs
// builds only (node/faults lists them all).
const bugsCompiled = true
