// Package tss is keyquorum's threshold engine: it runs bnb-chain/tss-lib
// keygen, signing and resharing (share refresh) sessions (ECDSA secp256k1
// and Ed25519) between cluster members over a caller-provided Transport.
//
// The package is the only importer of tss-lib (imported as tsslib). It never
// changes tss-lib's process-global curve, never turns proofs off, sends every
// call into tss-lib through one recovering boundary (boundary.go), and bounds
// every buffer: message size, inbound slots per (type, sender), pending
// messages for sessions not started yet, concurrent sessions and session time.
//
// Secrets (Share, PreParams) never reach logs, errors or fmt output.
package tss
