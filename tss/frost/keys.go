package frost

import (
	"encoding/hex"
	"fmt"
	"slices"
	"sync"

	"filippo.io/edwards25519"
)

// KeyShare is one signer's key material (RFC 9591 Section 5): its
// identifier i, its secret share secret_key_i of the group signing key, the
// verifying share public_key_i = secret_key_i·B, and the group public key.
// It is secret: String, GoString and Format print public facts only, and
// the secret sits behind a pointer so that even printing a dereferenced
// KeyShare shows an address, not the scalar. A KeyShare is safe for
// concurrent use by Commit, Sign and Wipe; after Wipe both refuse it.
type KeyShare struct {
	id        Identifier
	sec       *keySecret
	verifying [ElementSize]byte // public_key_i
	group     [ElementSize]byte // group_public_key
}

type keySecret struct {
	mu     sync.RWMutex // Wipe takes it for writing
	secret edwards25519.Scalar
	wiped  bool
}

// NewKeyShare builds a signer's key share from its identifier, its secret
// share as SerializeScalar (32 bytes little-endian, canonical, non-zero) and
// the group public key as an RFC 8032 encoding. tss-lib holds the secret as
// a big-endian big.Int (LocalPartySaveData.Xi): reverse its 32-byte
// big-endian form. The caller should clear secret afterwards.
func NewKeyShare(id Identifier, secret, groupPublicKey []byte) (*KeyShare, error) {
	if !id.valid() {
		return nil, fmt.Errorf("%w: zero identifier", ErrInvalidIdentifier)
	}
	s, err := parseSecret(secret)
	if err != nil {
		return nil, err
	}
	defer zeroScalar(s)
	if _, err := deserializeElement(groupPublicKey); err != nil {
		return nil, fmt.Errorf("frost: group public key: %w", err)
	}
	k := &KeyShare{id: id, sec: &keySecret{}}
	k.sec.secret.Set(s)
	copy(k.verifying[:], new(edwards25519.Point).ScalarBaseMult(s).Bytes())
	copy(k.group[:], groupPublicKey)
	return k, nil
}

// VerifyingShare returns public_key_i = ScalarBaseMult(secret_key_i) for a
// secret share given as SerializeScalar: the value a coordinator's group
// info holds for that signer.
func VerifyingShare(secret []byte) ([]byte, error) {
	s, err := parseSecret(secret)
	if err != nil {
		return nil, err
	}
	defer zeroScalar(s)
	return new(edwards25519.Point).ScalarBaseMult(s).Bytes(), nil
}

// parseSecret reads a secret share given as SerializeScalar: a canonical
// scalar that is not zero. The caller zeroes it once done.
func parseSecret(secret []byte) (*edwards25519.Scalar, error) {
	s, err := deserializeScalar(secret)
	if err != nil {
		return nil, fmt.Errorf("%w: secret: %w", ErrInvalidKeyShare, err)
	}
	if s.Equal(edwards25519.NewScalar()) == 1 {
		return nil, fmt.Errorf("%w: secret is zero", ErrInvalidKeyShare)
	}
	return s, nil
}

// Identifier returns the signer's identifier.
func (k *KeyShare) Identifier() Identifier { return k.id }

// VerifyingShare returns the signer's public verifying share public_key_i.
func (k *KeyShare) VerifyingShare() []byte { return slices.Clone(k.verifying[:]) }

// GroupPublicKey returns the group public key, an Ed25519 public key.
func (k *KeyShare) GroupPublicKey() []byte { return slices.Clone(k.group[:]) }

// Wipe zeroes the secret share. The KeyShare is unusable afterwards.
func (k *KeyShare) Wipe() {
	if k == nil || k.sec == nil {
		return
	}
	k.sec.mu.Lock()
	defer k.sec.mu.Unlock()
	zeroScalar(&k.sec.secret)
	k.sec.wiped = true
}

// withSecret runs f with the secret share under the read lock, or fails if
// the share was wiped or never built by NewKeyShare.
func (k *KeyShare) withSecret(f func(s *edwards25519.Scalar) error) error {
	if k == nil || k.sec == nil {
		return fmt.Errorf("%w: not made by NewKeyShare", ErrInvalidKeyShare)
	}
	k.sec.mu.RLock()
	defer k.sec.mu.RUnlock()
	if k.sec.wiped {
		return fmt.Errorf("%w: wiped", ErrInvalidKeyShare)
	}
	return f(&k.sec.secret)
}

// String prints public facts only.
func (k *KeyShare) String() string {
	if k == nil {
		return "frost.KeyShare(nil)"
	}
	return fmt.Sprintf("frost.KeyShare{id=%s verifying=%s group=%s secret=REDACTED}", k.id,
		hex.EncodeToString(k.verifying[:]), hex.EncodeToString(k.group[:]))
}

// GoString prints public facts only.
func (k *KeyShare) GoString() string { return k.String() }

// Format prints public facts only, for every verb.
func (k *KeyShare) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(k.String())) }
