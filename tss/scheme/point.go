package scheme

import (
	"errors"
	"math/big"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// EncodePoint returns the canonical public key encoding for alg: compressed
// SEC1 (33 bytes) for secp256k1, RFC 8032 (32 bytes, little-endian y with the
// sign of x in the top bit) for Ed25519.
func EncodePoint(alg Algorithm, x, y *big.Int) ([]byte, error) {
	switch alg {
	case ECDSASecp256k1:
		var fx, fy secp256k1.FieldVal
		if x.BitLen() > 256 || y.BitLen() > 256 {
			return nil, errors.New("coordinate too large")
		}
		if fx.SetByteSlice(x.Bytes()) || fy.SetByteSlice(y.Bytes()) {
			return nil, errors.New("coordinate not reduced")
		}
		pk := secp256k1.NewPublicKey(&fx, &fy)
		if !pk.IsOnCurve() {
			return nil, errors.New("point not on secp256k1")
		}
		return pk.SerializeCompressed(), nil
	case Ed25519:
		if y.Sign() < 0 || y.BitLen() > 255 {
			return nil, errors.New("coordinate out of range")
		}
		var be [32]byte
		y.FillBytes(be[:])
		out := make([]byte, 32)
		for i := range 32 {
			out[i] = be[31-i]
		}
		if x.Bit(0) == 1 {
			out[31] |= 0x80
		}
		return out, nil
	}
	return nil, errors.New("unknown algorithm")
}
