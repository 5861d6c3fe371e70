//go:build !kqd_bugs

package commands

// bugsCompiled is false outside kqd_bugs builds: the deliberate bugs of
// Config are constant-false and compiled out.
const bugsCompiled = false
