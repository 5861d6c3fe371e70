// Package consensus runs hashicorp/raft for a keyquorum member: its log,
// stable and snapshot stores (BoltDB and files, or a Backend supplied for
// tests), its mutual-TLS transport, membership changes of the raft
// configuration, offline recovery (ForceNewCluster), backups and the
// observations that tell who is reachable. Node.Apply proposes an entry and
// waits for the replicated state machine to apply it.
//
// The state machine itself, and the entries it applies, live in package
// consensus/fsm, which does no I/O; this package is the part that does.
package consensus
