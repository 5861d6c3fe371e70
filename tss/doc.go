// Package tss is keyquorum's threshold engine: it runs bnb-chain/tss-lib
// keygen, signing and resharing (share refresh) sessions (ECDSA secp256k1
// and Ed25519) between cluster members over a caller-provided Transport.
//
// The package and its subpackages are the only importers of tss-lib
// (imported as tsslib). It never changes tss-lib's process-global curve,
// never turns proofs off, sends every call into tss-lib through one
// recovering boundary (boundary.go), and bounds every buffer: message size, inbound slots per (type, sender), pending
// messages for sessions not started yet, concurrent sessions and session time.
//
// Every inbound round message is re-checked after it is parsed and before
// tss-lib sees it (package msgcheck, one validator per message type), because
// tss-lib v2.0.2 lacks checks that later versions added: a VSS
// decommitment must hold exactly t+1 points (a shorter one panics in a
// goroutine keygen starts, which no recover can catch, killing every honest
// process), range proofs must have S != 1, Z != 1, S1 != S2, mod proofs
// gcd(W, N) = 1, and resharing's Paillier modulus and N-tilde must be 2048
// bits as keygen's are. Every integer is bounded by its protocol size,
// every point is checked on the curve, and the sender and broadcast flag
// are checked. A failed check ends the session with an *AbortError naming
// the sender, wrapping a *CheckError that names the check.
//
// Secrets (Share, PreParams) never reach logs, errors or fmt output.
package tss
