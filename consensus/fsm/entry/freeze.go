package entry

// The break-glass freeze: any cluster-admin stops all signing at once,
// with no quorum; lifting it is a ceremony (policy.KindUnfreeze) once the policy
// lists operators. Both entries need protocol 2.
const (
	TypeFreeze   CommandType = "freeze"
	TypeUnfreeze CommandType = "unfreeze"
)

// Freeze stops all signing cluster-wide at once: break glass, any
// cluster-admin, no quorum. Only an unfreeze ceremony (or, in a cluster
// without operators, an Unfreeze by a cluster-admin) lifts it.
type Freeze struct {
	Reason string `json:"reason"`
	Actor  string `json:"actor"`
	Time   int64  `json:"time"`
}

// Unfreeze lifts a freeze directly; refused once the policy lists
// operators (then it is a ceremony).
type Unfreeze struct {
	Actor string `json:"actor"`
	Time  int64  `json:"time"`
}

func (Freeze) Type() CommandType     { return TypeFreeze }
func (c *Freeze) Stamp(t int64)      { c.Time = t }
func (c *Freeze) StampTime() int64   { return c.Time }
func (Unfreeze) Type() CommandType   { return TypeUnfreeze }
func (c *Unfreeze) Stamp(t int64)    { c.Time = t }
func (c *Unfreeze) StampTime() int64 { return c.Time }
