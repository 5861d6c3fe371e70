//go:build !kqd_compat

package fsm

// MaxProtocol is the newest protocol version this build reads and writes.
const MaxProtocol = ProtocolV2
