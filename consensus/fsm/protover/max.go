//go:build !kqd_compat

package protover

// Max is the newest protocol version this build reads and writes.
const Max = V2
