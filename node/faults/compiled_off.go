//go:build !kqd_bugs

package faults

// Compiled is false outside kqd_bugs builds: no bug can be switched on,
// and the compiler drops every faulty path.
const Compiled = false
