package checker

import (
	"strings"

	"github.com/keyquorum/keyquorum/jepsen/nemesis"
)

// Membership judges the membership nemesis's changes: while each ran, the
// nemesis watched the new node's status on the leader, and a node that
// raft counted as a voter before its membership state was voter (every
// key's shares confirmed) is a violation: a quorum could rest on a member
// that cannot sign. The changes themselves (every public key unchanged,
// every signature verifying) are the other checks' to judge.
func Membership(faults []nemesis.Fault) Check {
	c := Check{Name: "membership", Verdict: Valid}
	var changes []string
	for _, f := range faults {
		if f.Name != "membership" {
			continue
		}
		c.Checked++
		changes = append(changes, f.Target)
		for _, v := range f.Violations {
			c.fail(Invalid, "%s: %s", f.Target, v)
		}
	}
	if len(changes) > 0 {
		c.note("%s", strings.Join(changes, "; "))
	}
	return c
}
