// Package audit defines keyquorum's audit record, the hash chain that links
// records, checkpoints signed by the cluster's threshold audit key, and a
// verifier that needs only the records and the audit public key.
//
// A record holds facts about one applied command or one window of
// aggregated denials: who, what, on which key, the SHA-256 of a signed
// input, the outcome and why. It never holds a signed message or digest, a
// share, a handle or a pre-param. Each record's hash covers its fields and
// the previous record's hash (see Hash for the canonical encoding), so
// altering, removing or reordering a record breaks every later link.
//
// The package depends on the standard library only, so a verifier can be
// built from it alone.
package audit
