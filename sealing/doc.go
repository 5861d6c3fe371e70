// Package sealing keeps a node's secrets (key shares, tss pre-parameters) on
// disk so that they open only on the machine, and in the boot state, that
// sealed them.
//
// # Security property
//
// Each node has one 32-byte key-encryption key (KEK). The KEK exists in
// plaintext only inside the TPM and, after OpenTPM unseals it, in this
// process's memory; on disk it is a TPM sealed object (DIR/kek.sealed) that
// only the TPM that created it can load, and that it unseals only inside a
// policy session satisfying PolicyPCR (the configured PCRs hold the values
// they held at sealing) and PolicyAuthValue (the caller knows the auth
// value). Secrets are then stored as AES-256-GCM envelopes under the KEK whose
// associated data is a canonical encoding of a Binding (cluster, node, kind,
// key, version, epoch): a blob copied to another node, key, version, epoch or
// kind fails to open with ErrBindingMismatch, and so does a corrupted blob.
//
// # Limits
//
//   - The "simulator" backend is not a security boundary. Its TPM seeds are
//     derived from DIR/simulator.seed, so anyone who can read the data
//     directory can recompute the KEK. It exists so that `make run` and tests
//     work without a TPM; OpenTPM logs a warning when it is used. The embedded
//     simulator is one per process: a second OpenTPM with this backend
//     blocks until the first TPM is closed (or its context ends). That suits
//     kqd (one node per process); tests that need two TPM-backed nodes at
//     once run them as separate processes, use swtpm, or use sealingtest.
//   - The default PCR selection is PCR 16, the debug PCR, which anyone with
//     TPM access can reset or extend. It is a development default that lets
//     tests change the policy state. Production must bind to measured-boot
//     PCRs (for example 7, secure-boot state) and reseal after firmware or
//     boot-policy updates.
//   - Without Config.AuthFile the auth value is generated once and kept in
//     DIR/kek.auth (mode 0600). That only protects against someone who holds
//     the TPM and a copy of kek.sealed but not the data directory; production
//     should supply AuthFile from a secret store that is not on the same disk.
//   - The KEK and the AES key schedule live in ordinary Go memory. Close wipes
//     the KEK bytes it owns; copies made by the runtime, the TPM library or
//     the AES implementation cannot be wiped and are left to the garbage
//     collector.
//   - OpenTPM keeps the TPM connection until Close; swtpm serves one client
//     at a time, so one swtpm instance serves one node.
//   - The KEK stays sealed to the PCRs it was created with; changing
//     Config.PCRs later only logs a warning (there is no reseal yet).
//   - The owner hierarchy must have an empty auth value (the storage root key
//     is created under it on every start and never persisted).
package sealing
