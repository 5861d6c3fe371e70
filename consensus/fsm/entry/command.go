package entry

// CommandType names one kind of replicated command. Requests (create,
// sign) are proposed by the leader; reports (share stored, signature done)
// come from the members that did the work, through the leader. Each family
// of commands declares its types in its own file; package fsm's command
// table says what each does.
type CommandType string

// Command is one entry of the replicated log.
type Command interface {
	Type() CommandType
}

// Report is a command a member proposes about its own work or state: a
// stored share, a signature, a parked presignature, a restart. The leader
// appends a report forwarded by a member only when Reporter names that
// member, so no node can speak for another.
type Report interface {
	Command
	Reporter() string
}

// Stamped is a command that carries the time it was proposed at, stamped by
// the leader: replicated time advances to the largest stamp applied, and
// handle expiry, destroy windows and record ages are judged against it.
// The node stamps every such command in one place, through its bounded
// clock (node/clock.Bound), just before proposing it.
type Stamped interface {
	Command
	// Stamp sets the command's time, in unix nanoseconds.
	Stamp(unixNano int64)
	// StampTime returns it.
	StampTime() int64
}
