package client

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// Signer is a crypto.Signer whose private key is a keyquorum threshold key:
// each Sign is one Sign call to the cluster, under a handle. Pass it
// wherever Go takes a crypto.Signer (x509.CreateCertificate,
// ssh.NewSignerFromSigner, JOSE libraries).
//
// A Signer is pinned to the key version that was primary when it was made,
// so Public always matches the signatures: after a promotion, make a new
// one. Each signature is checked against Public before it is returned, so
// a signature a verifier would reject never leaves the Signer.
//
// Ed25519: Public returns an ed25519.PublicKey, and Sign signs the message
// itself (1 to 1024 bytes) with opts crypto.Hash(0); Ed25519ph and contexts
// are refused. ECDSA secp256k1: Public returns a Secp256k1PublicKey, Sign
// takes a 32-byte digest and returns ASN.1 DER with a low s, and
// SignRecoverable returns the 65-byte r || s || v form.
//
// A Signer is safe for concurrent use.
type Signer struct {
	c       *Client
	h       *Handle
	alg     kqpb.Algorithm
	version uint32
	ed      ed25519.PublicKey    // Ed25519 keys
	secp    *secp256k1.PublicKey // secp256k1 keys
}

var _ crypto.Signer = (*Signer)(nil)

// Secp256k1PublicKey is a secp256k1 public key as Signer.Public returns it.
// The embedded decred key gives the raw point (X, Y), its 33- and 65-byte
// encodings (SerializeCompressed, SerializeUncompressed) and ToECDSA.
type Secp256k1PublicKey struct {
	*secp256k1.PublicKey
}

// Equal reports whether x is the same secp256k1 point, as Go's public key
// types do.
func (k Secp256k1PublicKey) Equal(x crypto.PublicKey) bool {
	o, ok := x.(Secp256k1PublicKey)
	return ok && k.PublicKey != nil && o.PublicKey != nil && k.IsEqual(o.PublicKey)
}

// NewSigner returns a Signer that signs with h's key under h, pinned to the
// key's primary version. It reads the key once, for its public key.
func (c *Client) NewSigner(ctx context.Context, h *Handle) (*Signer, error) {
	if h == nil || h.Key == "" {
		return nil, errors.New("keyquorum: NewSigner: the handle names no key")
	}
	k, err := c.GetKey(ctx, h.Key)
	if err != nil {
		return nil, err
	}
	s := &Signer{c: c, h: h, alg: k.GetAlgorithm(), version: k.GetPrimaryVersion()}
	pub := k.GetPublicKey()
	for _, v := range k.GetVersions() {
		if v.GetVersion() == s.version {
			pub = v.GetPublicKey()
		}
	}
	if s.version == 0 {
		return nil, fmt.Errorf("keyquorum: key %s has no primary version (state %s)", h.Key, k.GetState())
	}
	switch s.alg {
	case kqpb.Algorithm_ED25519:
		if len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("keyquorum: key %s: Ed25519 public key of %d bytes", h.Key, len(pub))
		}
		s.ed = ed25519.PublicKey(pub)
	case kqpb.Algorithm_ECDSA_SECP256K1:
		if s.secp, err = secp256k1.ParsePubKey(pub); err != nil {
			return nil, fmt.Errorf("keyquorum: key %s: %w", h.Key, err)
		}
	default:
		return nil, fmt.Errorf("keyquorum: key %s: unsupported algorithm %s", h.Key, s.alg)
	}
	return s, nil
}

// IssueSigner issues a handle as IssueHandle does and returns a Signer
// under it.
func (c *Client) IssueSigner(ctx context.Context, r HandleRequest) (*Signer, error) {
	h, err := c.IssueHandle(ctx, r)
	if err != nil {
		return nil, err
	}
	return c.NewSigner(ctx, h)
}

// Public returns the public key of the pinned version: an
// ed25519.PublicKey or a Secp256k1PublicKey.
func (s *Signer) Public() crypto.PublicKey {
	if s.alg == kqpb.Algorithm_ED25519 {
		return s.ed
	}
	return Secp256k1PublicKey{s.secp}
}

// Algorithm returns the key's algorithm.
func (s *Signer) Algorithm() kqpb.Algorithm { return s.alg }

// Version returns the key version the Signer signs with.
func (s *Signer) Version() uint32 { return s.version }

// Handle returns the handle the Signer signs under.
func (s *Signer) Handle() *Handle { return s.h }

// Sign implements crypto.Signer. It ignores rand: the members' randomness
// goes into a threshold signature. The call's deadline is the client's
// CallTimeout; use SignContext to pass a context.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext is Sign with a context.
func (s *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if err := s.checkOpts(digest, opts); err != nil {
		return nil, err
	}
	sig, err := s.sign(ctx, digest)
	if err != nil {
		return nil, err
	}
	if s.alg == kqpb.Algorithm_ED25519 {
		if !ed25519.Verify(s.ed, digest, sig) {
			return nil, errors.New("keyquorum: the cluster's Ed25519 signature does not verify against the signer's public key")
		}
		return sig, nil
	}
	return EncodeSecp256k1(s.secp, digest, sig, FormatDER)
}

// checkOpts refuses what the cluster cannot do: prehashed or contextual
// Ed25519 (it signs pure Ed25519 only), and a secp256k1 digest that is not
// 32 bytes or whose length disagrees with opts' hash.
func (s *Signer) checkOpts(digest []byte, opts crypto.SignerOpts) error {
	var h crypto.Hash
	if opts != nil {
		h = opts.HashFunc()
	}
	if s.alg == kqpb.Algorithm_ED25519 {
		if eo, ok := opts.(*ed25519.Options); ok && eo.Context != "" {
			return errors.New("keyquorum: Ed25519 with a context is not supported")
		}
		if h != 0 {
			return fmt.Errorf("keyquorum: Ed25519 signs the message itself: want crypto.Hash(0), got %v", h)
		}
		if len(digest) < 1 || len(digest) > 1024 {
			return fmt.Errorf("keyquorum: Ed25519 message of %d bytes: want 1 to 1024", len(digest))
		}
		return nil
	}
	if len(digest) != 32 {
		return fmt.Errorf("keyquorum: secp256k1 digest of %d bytes: want 32", len(digest))
	}
	if h != 0 && h.Size() != len(digest) {
		return fmt.Errorf("keyquorum: digest of %d bytes for %v", len(digest), h)
	}
	return nil
}

// sign makes one Sign call and returns the pinned version's signature.
func (s *Signer) sign(ctx context.Context, digest []byte) ([]byte, error) {
	r, err := s.c.Sign(ctx, &kqpb.SignRequest{Key: s.h.Key, Handle: s.h.Token.Bearer(), Digest: digest, Version: s.version})
	if err != nil {
		return nil, err
	}
	if r.GetVersion() == s.version {
		return r.GetSignature(), nil
	}
	for _, v := range r.GetSignatures() {
		if v.GetVersion() == s.version {
			return v.GetSignature(), nil
		}
	}
	return nil, fmt.Errorf("keyquorum: asked version %d of %s, the cluster signed with %d", s.version, s.h.Key, r.GetVersion())
}
