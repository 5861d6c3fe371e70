package sealing

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"fmt"
	"sync"
)

// KEKSize is the size of a key-encryption key: AES-256.
const KEKSize = 32

// Envelope format: formatV1 || nonce (12 bytes) || AES-256-GCM ciphertext and
// tag. The format byte is also in the associated data.
const (
	formatV1   byte = 1
	nonceSize       = 12
	headerSize      = 1 + nonceSize
	tagSize         = 16
)

// Envelope is a Sealer over a KEK held in memory: AES-256-GCM with a random
// 96-bit nonce per blob and the Binding as associated data. TPM wraps one
// around the KEK it unseals; sealingtest wraps one around a random KEK.
//
// Random nonces bound the number of blobs per KEK to about 2^32 before the
// nonce-collision risk matters, far beyond a node's share count.
//
// An Envelope holds secret key material: it never prints its key, and Wipe
// zeroes the copy it owns. It is safe for concurrent use.
type Envelope struct {
	mu   sync.RWMutex
	kek  []byte      // nil after Wipe
	aead cipher.AEAD // nil after Wipe
}

// NewEnvelope returns an Envelope keyed by a copy of kek, which must be
// KEKSize bytes. The caller keeps ownership of kek and should wipe it.
func NewEnvelope(kek []byte) (*Envelope, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("sealing: KEK is %d bytes, want %d", len(kek), KEKSize)
	}
	own := make([]byte, KEKSize)
	copy(own, kek)
	block, err := aes.NewCipher(own)
	if err != nil {
		return nil, fmt.Errorf("sealing: aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealing: gcm: %w", err)
	}
	return &Envelope{kek: own, aead: aead}, nil
}

// Seal encrypts plaintext under the KEK with b as associated data. It returns
// ErrInvalidBinding for an incomplete binding and ErrClosed after Wipe.
func (e *Envelope) Seal(ctx context.Context, b Binding, plaintext []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sealing: seal %s: %w", b, err)
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.aead == nil {
		return nil, ErrClosed
	}
	out := make([]byte, headerSize, headerSize+len(plaintext)+tagSize)
	out[0] = formatV1
	if _, err := rand.Read(out[1:headerSize]); err != nil {
		return nil, fmt.Errorf("sealing: nonce: %w", err)
	}
	return e.aead.Seal(out, out[1:headerSize], plaintext, b.associatedData(formatV1)), nil
}

// Open authenticates and decrypts a blob made by Seal with an equal Binding.
// A blob sealed for another binding or KEK, or modified, yields an error
// wrapping ErrBindingMismatch that names b; a blob too short or of unknown
// format yields ErrMalformedBlob. It returns ErrClosed after Wipe.
func (e *Envelope) Open(ctx context.Context, b Binding, blob []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sealing: open %s: %w", b, err)
	}
	if err := b.Validate(); err != nil {
		return nil, err
	}
	if len(blob) < headerSize+tagSize {
		return nil, fmt.Errorf("sealing: open %s: %d bytes: %w", b, len(blob), ErrMalformedBlob)
	}
	if blob[0] != formatV1 {
		return nil, fmt.Errorf("sealing: open %s: format %d: %w", b, blob[0], ErrMalformedBlob)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.aead == nil {
		return nil, ErrClosed
	}
	pt, err := e.aead.Open(nil, blob[1:headerSize], blob[headerSize:], b.associatedData(formatV1))
	if err != nil {
		return nil, fmt.Errorf("sealing: blob does not open for %s: %w", b, ErrBindingMismatch)
	}
	return pt, nil
}

// Wipe zeroes the KEK and makes later Seal and Open calls fail with
// ErrClosed. The AES key schedule inside crypto/aes cannot be zeroed; it is
// dropped for the garbage collector. Wipe is idempotent.
func (e *Envelope) Wipe() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.kek)
	e.kek = nil
	e.aead = nil
}

// String redacts the key.
func (e *Envelope) String() string { return "sealing.Envelope{KEK:REDACTED}" }

// GoString redacts the key under %#v.
func (e *Envelope) GoString() string { return e.String() }
