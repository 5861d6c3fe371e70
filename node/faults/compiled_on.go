//go:build kqd_bugs

package faults

// Compiled is true in kqd_bugs builds: the deliberate bugs can be
// switched on.
const Compiled = true
