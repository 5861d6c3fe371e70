package frostsign

// bugNonceReader feeds FROST's nonce generation the same bytes every time
// under the frost-nonce-reuse bug, so a member derives the same nonce
// pair for every commitment it publishes: the FSM sees fresh ids, and the
// member signs with one nonce pair again and again, which gives its key
// share away (RFC 9591 Section 7.1).
type bugNonceReader struct{}

func (bugNonceReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 0x42
	}
	return len(p), nil
}
