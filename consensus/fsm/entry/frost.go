package entry

// TypeFrostCommitted publishes a member's FROST nonce commitments.
const TypeFrostCommitted CommandType = "frost_committed"

// FrostCommitted reports nonce commitments (RFC 9591 round one) that Node
// made during its process life Boot for signing with a key version at a
// share epoch. The nonces behind them stay in Node's memory; each
// commitment may be named by one sign request, ever.
type FrostCommitted struct {
	Key         string        `json:"key"`
	Version     uint32        `json:"version"`
	Epoch       uint32        `json:"epoch"`
	Node        string        `json:"node"`
	Boot        string        `json:"boot"`
	Commitments []FrostCommit `json:"commitments"`
}

// FrostCommit is one published commitment: an id the sign request names it
// by and the encoded commitment, SerializeScalar(i) || D_i || E_i.
type FrostCommit struct {
	ID         string `json:"id"`
	Commitment []byte `json:"commitment"`
}

func (FrostCommitted) Type() CommandType  { return TypeFrostCommitted }
func (c FrostCommitted) Reporter() string { return c.Node }
