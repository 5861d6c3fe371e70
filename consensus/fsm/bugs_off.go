//go:build !kqd_bugs

package fsm

// bugsCompiled is false outside kqd_bugs builds: the deliberate bugs of
// FSMConfig are constant-false and compiled out.
const bugsCompiled = false
