// Package frost implements the FROST(Ed25519, SHA-512) threshold signing
// protocol of RFC 9591: two-round Schnorr signatures, made by any
// MinSigners of a group's members, that are ordinary RFC 8032 Ed25519
// signatures and verify with crypto/ed25519.
//
// The package covers signing only: round one (Commit), round two (Sign), and
// the coordinator's share verification and aggregation (GroupInfo.VerifyShare,
// GroupInfo.Aggregate). Keys come from elsewhere. In keyquorum they are
// tss-lib EdDSA keygen or resharing outputs, which are Shamir shares of the
// signing scalar at the members' party keys; any non-zero scalar may serve
// as an Identifier, not only the RFC's small integers.
//
// Security properties and the caller's obligations:
//
//   - Arithmetic on secret values (key shares, nonces, signature shares before
//     they are sent) uses filippo.io/edwards25519's constant-time scalars and
//     fixed-base multiplication. Variable-time multiplication is used only on
//     public values: commitments, verifying shares, published signature
//     shares and signatures.
//   - A Nonces value is used at most once. Sign consumes it before it computes
//     anything, whether or not it then succeeds, and refuses a consumed one;
//     copies of a Nonces value share that state. Reusing a nonce pair for two
//     different messages or signer sets reveals the key share. Nonces are not
//     serializable: a restarted member's unused commitments must be discarded.
//   - Every externally supplied encoding is decoded as RFC 9591 Section 6.1
//     requires: scalars must be canonical (below the group order); elements
//     must be canonical RFC 8032 encodings of points in the prime-order
//     subgroup other than the identity, so small-order and mixed-order points
//     are refused. List sizes are bounded by MaxSigners before any work.
//   - Signatures are not deterministic: each depends on the signers' fresh
//     nonces. Messages are signed as given (PureEdDSA); nothing is pre-hashed.
//   - Blame (InvalidShareError) is only as good as the channel: the
//     coordinator must know which member sent which share (RFC 9591 Section
//     5.4). FROST is not robust: one misbehaving signer stops a signature.
//   - KeyShare and Nonces hold secrets. Their String, GoString and Format
//     methods print public facts only, errors never include secret values,
//     and KeyShare.Wipe and Sign zero scalars when they are done.
package frost
