package commands

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
)

// recoveryCommands report a forced recovery of the raft configuration.
func recoveryCommands() []commandSpec {
	return []commandSpec{spec(protover.V2, applyClusterRecovered, recordsClusterRecovered)}
}

// applyClusterRecovered brings the replicated membership, once there is one,
// in line with the forced configuration: a member left out of it is
// removed, so no node admits or dials it and no key is reshared to it.
// Before any membership change the members are cluster.yaml's, which the
// operator edits (docs/OPERATIONS.md). The note is the audit record's
// reason. A second survivor's report of the same recovery finds nothing
// left to remove.
func applyClusterRecovered(f *Machine, c *entry.ClusterRecovered, _ uint64) Result {
	removed := f.st.Members.Keep(c.Members, f.st.Time)
	note := fmt.Sprintf("raft configuration forced to %v (was %v) on %s; entries up to %d (term %d) committed by the recovery",
		c.Members, c.Previous, c.Node, c.LastIndex, c.LastTerm)
	if len(removed) > 0 {
		note += fmt.Sprintf("; members %v removed", removed)
	}
	return Result{Note: note}
}

func recordsClusterRecovered(_ *Machine, c *entry.ClusterRecovered, res Result, r audit.Record) []audit.Record {
	r.RequestID, r.Reason = c.RequestID, res.Note
	return []audit.Record{r}
}
