//go:build !kqd_bugs

package peer

// flood does nothing outside kqd_bugs builds: the flood-messages bug's
// writer is not compiled in.
func (*Links) flood() {}
