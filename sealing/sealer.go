package sealing

import "context"

// Sealer encrypts and authenticates node secrets for storage at rest.
//
// Seal returns a self-contained blob that only Open with an equal Binding on
// a Sealer holding the same key-encryption key can turn back into plaintext.
// Open returns an error wrapping ErrBindingMismatch when the blob was sealed
// for another Binding or was modified, and ErrMalformedBlob when it is not a
// sealed blob at all. Neither method logs or returns plaintext in errors.
// Implementations are safe for concurrent use; after Close (where the
// implementation has one) both methods return ErrClosed.
type Sealer interface {
	Seal(ctx context.Context, b Binding, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, b Binding, blob []byte) ([]byte, error)
}

var (
	_ Sealer = (*Envelope)(nil)
	_ Sealer = (*TPM)(nil)
)
