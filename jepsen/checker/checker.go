// Package checker judges a recorded history: first the assumptions the
// checks rely on, then linearizability against jepsen/model with porcupine,
// then properties porcupine cannot see (signatures verify, no ECDSA nonce
// reuse, acknowledged operations survive, replicas converge, the nodes'
// audit chains verify and agree).
package checker

import (
	"fmt"
	"strings"
)

// Verdict is the outcome of one check or of a whole run.
type Verdict string

// Verdicts, in increasing order of severity for Combine.
const (
	// Valid means the check found no violation.
	Valid Verdict = "valid"
	// Inconclusive means the check could not decide (porcupine timed out,
	// the cluster never answered the final reads).
	Inconclusive Verdict = "inconclusive"
	// Invalid means the check found a violation.
	Invalid Verdict = "invalid"
)

// Check is one checker's verdict.
type Check struct {
	Name    string   `json:"name"`
	Verdict Verdict  `json:"verdict"`
	Checked int      `json:"checked"`           // how many items it looked at
	Details []string `json:"details,omitempty"` // the first violations, then reasons for doubt
	Dropped int      `json:"dropped,omitempty"` // details beyond the first few
	// Notes say what a check covered or left out, whatever its verdict.
	Notes []string `json:"notes,omitempty"`

	invalid int // Details[:invalid] are violations
}

// maxDetails bounds the details a check keeps: one violation is enough to
// act on, a few show whether it is systematic.
const maxDetails = 8

func (c *Check) fail(v Verdict, format string, args ...any) {
	if severity(v) > severity(c.Verdict) {
		c.Verdict = v
	}
	msg := fmt.Sprintf(format, args...)
	switch {
	case v == Invalid && c.invalid < maxDetails:
		// Violations go first, displacing a reason for doubt if full.
		if len(c.Details) == maxDetails {
			c.Details = c.Details[:maxDetails-1]
			c.Dropped++
		}
		c.Details = append(c.Details[:c.invalid], append([]string{msg}, c.Details[c.invalid:]...)...)
		c.invalid++
	case len(c.Details) < maxDetails && v != Valid:
		c.Details = append(c.Details, msg)
	default:
		c.Dropped++
	}
}

// note records what the check covered; it never changes the verdict.
func (c *Check) note(format string, args ...any) {
	if len(c.Notes) < maxDetails {
		c.Notes = append(c.Notes, fmt.Sprintf(format, args...))
	}
}

// String is one line for the summary.
func (c Check) String() string {
	s := fmt.Sprintf("%-14s %-12s (%d checked)", c.Name, c.Verdict, c.Checked)
	if len(c.Details) > 0 {
		s += ": " + strings.Join(c.Details, "; ")
	}
	if c.Dropped > 0 {
		s += fmt.Sprintf("; and %d more", c.Dropped)
	}
	if len(c.Notes) > 0 {
		s += " [" + strings.Join(c.Notes, "; ") + "]"
	}
	return s
}

// Combine returns the most severe verdict of checks.
func Combine(checks []Check) Verdict {
	v := Valid
	for _, c := range checks {
		if severity(c.Verdict) > severity(v) {
			v = c.Verdict
		}
	}
	return v
}

func severity(v Verdict) int {
	switch v {
	case Invalid:
		return 2
	case Inconclusive:
		return 1
	}
	return 0
}
