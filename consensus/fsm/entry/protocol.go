package entry

// TypeRaiseProtocol raises the cluster's active protocol version.
const TypeRaiseProtocol CommandType = "raise_protocol"

// RaiseProtocol raises the active protocol version to Version, which every
// one of Members (the configuration's members, as the leader sees them)
// must have reported it supports. The leader's supervisor proposes it
// when the last member is upgraded.
type RaiseProtocol struct {
	Version uint32   `json:"version"`
	Members []string `json:"members"`
	Time    int64    `json:"time"`
}

func (RaiseProtocol) Type() CommandType   { return TypeRaiseProtocol }
func (c *RaiseProtocol) Stamp(t int64)    { c.Time = t }
func (c *RaiseProtocol) StampTime() int64 { return c.Time }
