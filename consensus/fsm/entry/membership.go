package entry

import "github.com/keyquorum/keyquorum/consensus/fsm/membership"

// Commands of membership.
const (
	// TypeChangeMembers starts adding, removing or replacing a node.
	TypeChangeMembers CommandType = "change_members"
	// TypeMemberStep moves a member to its next state.
	TypeMemberStep CommandType = "member_step"
)

// ChangeMembers starts a membership change: add New, remove Node, or
// replace Node by New (Op is membership.Add, Remove or Replace).
// Bootstrap is the leader's cluster.yaml nodes, used only when the table
// is still empty.
type ChangeMembers struct {
	Op        string              `json:"op"`
	Node      string              `json:"node,omitempty"`
	New       *membership.Member  `json:"new,omitempty"`
	Bootstrap []membership.Member `json:"bootstrap,omitempty"`
	Actor     string              `json:"actor"`
	Time      int64               `json:"time"`
}

// MemberStep moves Node from From to To; the leader's reconciler proposes
// it after doing the Raft side of the step before it (AddNonvoter before
// joining -> resharing) and before the one after it (AddVoter after
// resharing -> voter, RemoveServer before removing -> removed).
type MemberStep struct {
	Node string           `json:"node"`
	From membership.State `json:"from"`
	To   membership.State `json:"to"`
	Time int64            `json:"time"`
}

func (ChangeMembers) Type() CommandType   { return TypeChangeMembers }
func (c *ChangeMembers) Stamp(t int64)    { c.Time = t }
func (c *ChangeMembers) StampTime() int64 { return c.Time }
func (MemberStep) Type() CommandType      { return TypeMemberStep }
func (c *MemberStep) Stamp(t int64)       { c.Time = t }
func (c *MemberStep) StampTime() int64    { return c.Time }
