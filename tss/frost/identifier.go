package frost

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"

	"filippo.io/edwards25519"
)

// Identifier is a participant identifier: a non-zero scalar (RFC 9591
// Section 5, NonZeroScalar). The RFC numbers participants 1..n; keyquorum
// uses tss-lib party keys, large random values below the group order, and
// any non-zero scalar works. Identifiers are public. The zero Identifier is
// invalid; obtain one from NewIdentifier, IdentifierFromBigInt or
// ParseIdentifier. Identifier is comparable and may be a map key.
type Identifier struct {
	enc [ScalarSize]byte // SerializeScalar(i): canonical little-endian
}

// NewIdentifier returns the identifier Scalar(n), as the RFC's small
// integers are. It refuses zero.
func NewIdentifier(n uint64) (Identifier, error) {
	if n == 0 {
		return Identifier{}, fmt.Errorf("%w: zero", ErrInvalidIdentifier)
	}
	var id Identifier
	binary.LittleEndian.PutUint64(id.enc[:8], n)
	return id, nil
}

// IdentifierFromBigInt returns the identifier with x's value, as tss-lib
// stores party keys (ShareID, Ks). x must be in [1, L-1]: values are not
// reduced, so two keys equal mod L cannot silently become one.
func IdentifierFromBigInt(x *big.Int) (Identifier, error) {
	if x == nil || x.Sign() <= 0 || x.BitLen() > 8*ScalarSize {
		return Identifier{}, fmt.Errorf("%w: not in [1, L-1]", ErrInvalidIdentifier)
	}
	var be [ScalarSize]byte
	x.FillBytes(be[:])
	slices.Reverse(be[:])
	return ParseIdentifier(be[:])
}

// ParseIdentifier decodes SerializeScalar(i): 32 bytes, little-endian,
// canonical and non-zero.
func ParseIdentifier(b []byte) (Identifier, error) {
	s, err := deserializeScalar(b)
	if err != nil {
		return Identifier{}, fmt.Errorf("%w: %w", ErrInvalidIdentifier, err)
	}
	if s.Equal(edwards25519.NewScalar()) == 1 {
		return Identifier{}, fmt.Errorf("%w: zero", ErrInvalidIdentifier)
	}
	var id Identifier
	copy(id.enc[:], b)
	return id, nil
}

// Bytes returns SerializeScalar(i), 32 bytes little-endian.
func (id Identifier) Bytes() []byte { return slices.Clone(id.enc[:]) }

// BigInt returns the identifier's value, as tss-lib's party keys hold it.
func (id Identifier) BigInt() *big.Int {
	be := id.enc
	slices.Reverse(be[:])
	return new(big.Int).SetBytes(be[:])
}

// IsZero reports whether id is the zero value, which is not an identifier.
func (id Identifier) IsZero() bool { return id == Identifier{} }

// Compare orders identifiers by value, the order of RFC 9591 Section 4.3's
// sorted lists: -1 if id < other, 0 if equal, +1 if id > other.
func (id Identifier) Compare(other Identifier) int {
	for i := ScalarSize - 1; i >= 0; i-- {
		if id.enc[i] != other.enc[i] {
			if id.enc[i] < other.enc[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// String prints the identifier's value in decimal, as tss-lib's share
// files do.
func (id Identifier) String() string { return id.BigInt().String() }

// scalar returns the identifier as a scalar. The encoding was checked when
// the identifier was made.
func (id Identifier) scalar() *edwards25519.Scalar {
	s, err := edwards25519.NewScalar().SetCanonicalBytes(id.enc[:])
	if err != nil {
		panic("frost: identifier holds a non-canonical scalar")
	}
	return s
}

// valid reports whether id was made by a constructor (the zero value was not).
func (id Identifier) valid() bool { return !id.IsZero() }
