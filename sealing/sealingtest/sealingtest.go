// Package sealingtest provides a software sealing.Sealer for tests of the
// layers above sealing. It runs the same envelope code (AES-256-GCM, Binding
// as associated data) as the TPM backend, with a random KEK that lives only
// in memory: blobs do not survive the Sealer, and nothing protects the key.
// Never use it outside tests.
package sealingtest

import (
	"crypto/rand"
	"testing"

	"github.com/keyquorum/keyquorum/sealing"
)

// New returns a software Sealer with a fresh random KEK, wiped when the test
// ends. Two Sealers from New never open each other's blobs; to model a node
// restart, keep the Sealer and reuse it.
func New(tb testing.TB) *sealing.Envelope {
	tb.Helper()
	kek := make([]byte, sealing.KEKSize)
	defer clear(kek)
	if _, err := rand.Read(kek); err != nil {
		tb.Fatalf("sealingtest: KEK: %v", err)
	}
	return FromKEK(tb, kek)
}

// FromKEK returns a software Sealer keyed by a copy of kek (sealing.KEKSize
// bytes), for tests that need two Sealers sharing a key, such as a node
// restarted from the same disk. It is wiped when the test ends.
func FromKEK(tb testing.TB, kek []byte) *sealing.Envelope {
	tb.Helper()
	e, err := sealing.NewEnvelope(kek)
	if err != nil {
		tb.Fatalf("sealingtest: %v", err)
	}
	tb.Cleanup(e.Wipe)
	return e
}
