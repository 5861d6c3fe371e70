package client

import (
	"context"
	"crypto"
	"errors"
	"io"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// SignRecoverable signs a 32-byte digest with a secp256k1 key and returns
// r || s || v: 32 bytes each of r and s (s in the lower half of the order)
// and the recovery id v, 0 or 1, that recovers the Signer's public key from
// the signature, as Ethereum transactions carry it (add 27 for the legacy
// personal_sign form). The cluster returns DER; v is found by trying both
// ids and keeping the one whose recovered key is Public.
func (s *Signer) SignRecoverable(digest []byte) ([]byte, error) {
	return s.SignRecoverableContext(context.Background(), digest)
}

// SignRecoverableContext is SignRecoverable with a context.
func (s *Signer) SignRecoverableContext(ctx context.Context, digest []byte) ([]byte, error) {
	if s.alg != kqpb.Algorithm_ECDSA_SECP256K1 {
		return nil, errors.New("keyquorum: recoverable signatures are for secp256k1 keys")
	}
	if err := s.checkOpts(digest, nil); err != nil {
		return nil, err
	}
	der, err := s.sign(ctx, digest)
	if err != nil {
		return nil, err
	}
	return EncodeSecp256k1(s.secp, digest, der, FormatEth)
}

// AsECDSA returns a crypto.Signer over the same secp256k1 key whose Public
// is an *ecdsa.PublicKey on decred's curve, for libraries that accept only
// that type (JOSE's ES256K signers, for one). It signs as Sign does. It
// returns nil for an Ed25519 key.
func (s *Signer) AsECDSA() crypto.Signer {
	if s.alg != kqpb.Algorithm_ECDSA_SECP256K1 {
		return nil
	}
	return ecdsaView{s}
}

// ecdsaView is a Signer that shows its public key as crypto/ecdsa's type.
type ecdsaView struct{ s *Signer }

func (v ecdsaView) Public() crypto.PublicKey { return v.s.secp.ToECDSA() }

func (v ecdsaView) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return v.s.Sign(rand, digest, opts)
}
