//go:build kqd_compat

package protover

// Max is the newest protocol version this build reads and writes. A
// kqd_compat build speaks only the previous version, so tests can run a
// rolling upgrade, and a refused downgrade, without an older checkout.
const Max = V1
